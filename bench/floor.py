"""The floor: read every week file with pyarrow.csv and write it once as Parquet, nothing else.

    python bench/floor.py OUT_DIR FILE...

No validation, no hashing, no aggregation: the least any pipeline that turns these files
into Parquet must do. Same Parquet codec as the pipeline (zstd). Bad lines with a wrong
field count are skipped (the reader would stop on them otherwise).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow.csv as csv
import pyarrow.parquet as pq


def run(out_dir: Path, files: list[Path]) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    parse = csv.ParseOptions(delimiter="|", invalid_row_handler=lambda row: "skip")
    rows = 0
    for path in files:
        table = csv.read_csv(path, parse_options=parse)
        pq.write_table(table, out_dir / f"{path.stem}.parquet", compression="zstd")
        rows += table.num_rows
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    clock = time.perf_counter()
    rows = run(Path(args[0]), [Path(a) for a in args[1:]])
    print(f"floor: {len(args) - 1} files, {rows} rows in {time.perf_counter() - clock:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
