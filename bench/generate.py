"""Generate realistic weekly OTC transparency files for benchmarking (fixed seed, vectorised).

    python bench/generate.py OUT_DIR --rows-per-week 130000 --weeks 6 --tiers NMS_TIER_1 \
        [--format fixture|finra] [--bad-rate 0.0] [--seed 42] [--end-week 2025-12-26]

Writes `OUT_DIR/<tier lower-case>/week_<Friday>.psv`, so `source_dir=OUT_DIR/<tier lower>`
works for `doit backfill`. Every file has exactly `--rows-per-week` data lines (after the
header).

What the data looks like:

- each tier has its own symbol universe (valid symbols, docs/tables.md: `^[A-Z][A-Z0-9.\\-]{0,9}$`, mostly
  1-5 letters, a few share classes like `BRK.B` or warrants like `ABCD-W`) and 64 venues
  (4-character MPIDs, Zipf-like popularity);
- symbol volumes are heavy-tailed (Pareto, alpha 1.1) and move week to week (a slow
  per-symbol cycle plus log-normal noise), so rolling trends come out UP, DOWN and FLAT;
- each symbol trades on 2-40 venues (busier symbols on more venues) and keeps mostly the
  same venues from week to week;
- ~95 % of a week's symbols trade the next week too, so 6-week windows are meaningful;
- a week's content depends only on (seed, tier, rows per week, its date): generating 7
  weeks gives the same files as 6 weeks plus one more.

`--bad-rate R` turns a fraction R of the lines into bad ones, cycling through every kind
(see BAD_KINDS): most replace a good line in place, DUPLICATE_KEY and EXACT_DUPLICATE add
a line right after the one they repeat. With the FINRA format, the week comes from the file
name, so WEEK_MISMATCH becomes an invalid `lastUpdateDate` (also an INGEST PARSE_ERROR).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")
FINRA_TIER_LABELS = {"NMS_TIER_1": "NMS Tier 1", "NMS_TIER_2": "NMS Tier 2", "OTC": "OTCE"}
FIXTURE_HEADER = "WeekEnding|Tier|Symbol|MPID|TotalShares|TotalTrades"
FINRA_HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)

#: Kinds of bad line, and what the pipeline should make of each (stage, code).
BAD_KINDS = (
    "FIELD_COUNT",        # INGEST PARSE_ERROR: one field too many or too few
    "NON_INTEGER_SHARES",  # INGEST PARSE_ERROR: Invalid total_shares
    "WEEK_MISMATCH",      # INGEST PARSE_ERROR: Week mismatch (FINRA: invalid lastUpdateDate)
    "TIER_MISMATCH",      # INGEST PARSE_ERROR: Tier mismatch
    "INVALID_SYMBOL",     # NORMALIZE INVALID_SYMBOL
    "INVALID_MPID",       # NORMALIZE INVALID_MPID
    "NEGATIVE_SHARES",    # NORMALIZE NEGATIVE_VOLUME
    "NEGATIVE_TRADES",    # NORMALIZE NEGATIVE_TRADES
    "ZERO_SHARES",        # NORMALIZE ZERO_VOLUME with reject_zero_volume=true, else accepted
    "DUPLICATE_KEY",      # NORMALIZE DUPLICATE_KEY: same symbol+MPID, other numbers, later line
    "EXACT_DUPLICATE",    # skipped at ingest: the same line again
)
_INSERTED_KINDS = {"DUPLICATE_KEY", "EXACT_DUPLICATE"}

N_VENUES = 64
MIN_VENUES, MAX_VENUES = 2, 40
PRESENCE = 0.95  # chance a universe symbol trades in a given week
_EPOCH = dt.date(2020, 1, 3)  # a Friday: week index origin for the seasonal volume cycle
_LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)


def parse_tiers(values: list[str]) -> list[str]:
    """Tier names from `--tiers A B` or `--tiers A,B` (any case, - or space for _)."""
    tiers = []
    for value in values:
        for part in value.split(","):
            name = part.strip().upper().replace("-", "_").replace(" ", "_")
            if not name:
                continue
            name = {"T1": "NMS_TIER_1", "T2": "NMS_TIER_2", "OTCE": "OTC"}.get(name, name)
            if name not in TIERS:
                raise SystemExit(f"unknown tier {part!r}; valid: {', '.join(TIERS)}")
            if name not in tiers:
                tiers.append(name)
    return tiers


def fridays(end_week: dt.date, weeks: int) -> list[dt.date]:
    if end_week.weekday() != 4:
        raise SystemExit(f"--end-week must be a Friday, got {end_week} ({end_week:%A})")
    return [end_week - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


# --------------------------------------------------------------------------- universe


class Universe:
    """A tier's symbols and venues, fixed for every week (depends on seed, tier, size)."""

    def __init__(self, seed: int, tier_index: int, good_rows_per_week: int):
        rng = np.random.default_rng([seed, tier_index, 0xC0FFEE])
        self.tier_index = tier_index
        self.seed = seed
        # venues: 4 chars A-Z0-9 (letters first, as real MPIDs mostly are), Zipf popularity
        self.mpids = _unique_codes(rng, N_VENUES, 4, first=_LETTERS, rest=_ALNUM)
        self.venue_names = pc.binary_join_element_wise(
            pa.array(self.mpids), pa.scalar(" MARKETS LLC"), ""
        )
        popularity = 1.0 / np.arange(1, N_VENUES + 1) ** 0.9
        # size: enough symbols to fill a week with room to spare (mean venues ~ 12.9)
        n = int(good_rows_per_week / (11.0 * PRESENCE) * 1.3) + 64
        self.n = n
        self.symbols = _symbols(rng, n)  # alphabetical order: file order is symbol order
        self.issue_names = pc.binary_join_element_wise(
            pa.array(self.symbols), pa.scalar(" HOLDINGS INC COMMON STOCK"), ""
        )
        # heavy-tailed base weekly volume (shares): Pareto(1.1) from 20,000 shares up
        self.base_volume = np.minimum(20_000.0 * (1.0 + rng.pareto(1.1, n)), 5e10)
        pct = _percentile_rank(self.base_volume)
        # busier symbols trade on more venues: 2..40
        self.base_venues = np.clip(
            np.round(MIN_VENUES + (MAX_VENUES - MIN_VENUES) * pct ** 2.5 + rng.normal(0, 1.5, n)),
            MIN_VENUES, MAX_VENUES,
        ).astype(np.int64)
        # each symbol's venues in preference order (Gumbel top-k on popularity): stable weekly
        keys = np.log(popularity)[None, :].astype(np.float32) + rng.gumbel(size=(n, N_VENUES)).astype(np.float32)
        self.venue_rank = np.argsort(-keys, axis=1)[:, :MAX_VENUES].astype(np.int16)
        self.venue_popularity = popularity
        # average trade size (shares per trade) per symbol, and the seasonal cycle
        self.trade_size = np.exp(rng.normal(np.log(180.0), 0.6, n))
        self.cycle_amplitude = rng.uniform(0.0, 0.5, n)
        self.cycle_period = rng.uniform(8.0, 40.0, n)
        self.cycle_phase = rng.uniform(0.0, 2 * np.pi, n)
        # which symbols are picked first when a week is filled (not alphabetical)
        self.priority = rng.permutation(n)


def _percentile_rank(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(values), dtype=np.float64)
    rank[order] = np.arange(len(values))
    return (rank + 0.5) / len(values)


def _unique_codes(rng, n: int, length: int, first: np.ndarray, rest: np.ndarray) -> list[str]:
    codes: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        chars = np.empty((n, length), dtype=np.uint8)
        chars[:, 0] = rng.choice(first, n)
        chars[:, 1:] = rng.choice(rest, (n, length - 1))
        for code in chars.view(f"S{length}").ravel().astype(str):
            if code not in codes:
                codes.add(code)
                out.append(code)
                if len(out) == n:
                    break
    return out


def _symbols(rng, n: int) -> list[str]:
    """`n` distinct valid symbols, sorted: 1-5 letters, a few with a class or warrant suffix."""
    found = np.array([], dtype="U8")
    want = n
    while len(found) < n:
        m = int(want * 1.4) + 100
        length = rng.choice([1, 2, 3, 4, 5], m, p=[0.005, 0.04, 0.30, 0.55, 0.105])
        chars = rng.choice(_LETTERS, (m, 8))
        head = chars[:, :5]
        head[np.arange(5)[None, :] >= length[:, None]] = 0  # NULs after the symbol
        chars[:, 5:] = 0
        suffix = rng.random(m)
        cls = suffix < 0.02  # share class: ".A" / ".B"
        wrt = (suffix >= 0.02) & (suffix < 0.03)  # warrant: "-W"
        rows = np.arange(m)
        chars[rows[cls], length[cls]] = ord(".")
        chars[rows[cls], length[cls] + 1] = rng.choice(np.frombuffer(b"AB", np.uint8), int(cls.sum()))
        chars[rows[wrt], length[wrt]] = ord("-")
        chars[rows[wrt], length[wrt] + 1] = ord("W")
        new = chars.view("S8").ravel().astype("U8")
        found = np.unique(np.concatenate([found, new]))
        want = n - len(found) + 1
    pick = np.sort(rng.choice(len(found), n, replace=False))
    return found[pick].tolist()


# --------------------------------------------------------------------------- one week


def week_columns(u: Universe, week: dt.date, rows: int) -> dict[str, np.ndarray]:
    """`rows` good (symbol, venue) rows of one week as index and number arrays, file order."""
    rng = np.random.default_rng([u.seed, u.tier_index, week.toordinal(), rows])
    t = (week - _EPOCH).days / 7.0
    present = rng.random(u.n) < PRESENCE
    k = np.clip(u.base_venues + rng.integers(-1, 2, u.n), MIN_VENUES, MAX_VENUES)
    order = u.priority[present[u.priority]]
    k_order = k[order]
    cum = np.cumsum(k_order)
    if len(cum) == 0 or cum[-1] < rows:
        raise SystemExit(f"internal: universe too small for {rows} rows")
    take = int(np.searchsorted(cum, rows, side="right"))
    chosen, kk = order[:take].copy(), k_order[:take].copy()
    remainder = rows - (int(cum[take - 1]) if take else 0)
    if remainder >= MIN_VENUES:
        chosen = np.append(chosen, order[take])
        kk = np.append(kk, remainder)
    elif remainder == 1:
        if take and (kk < MAX_VENUES).any():
            kk[np.flatnonzero(kk < MAX_VENUES)[0]] += 1
        else:  # only possible for a 1-row week
            chosen, kk = np.append(chosen, order[take]), np.append(kk, 1)
    sort = np.argsort(chosen, kind="stable")  # alphabetical symbol order (universe is sorted)
    chosen, kk = chosen[sort], kk[sort]

    sym = np.repeat(chosen, kk)
    starts = np.repeat(np.cumsum(kk) - kk, kk)
    pos = np.arange(len(sym)) - starts  # position within the symbol's venue list
    venue = u.venue_rank[sym, pos].astype(np.int64)

    cycle = u.cycle_amplitude[chosen] * np.sin(2 * np.pi * t / u.cycle_period[chosen] + u.cycle_phase[chosen])
    volume = u.base_volume[chosen] * np.exp(cycle + rng.normal(0.0, 0.35, len(chosen)))
    weight = u.venue_popularity[venue] * np.exp(rng.normal(0.0, 1.0, len(sym)))
    weight_sum = np.bincount(np.repeat(np.arange(len(chosen)), kk), weights=weight)
    shares = np.maximum(1, np.floor(np.repeat(volume, kk) * weight / np.repeat(weight_sum, kk))).astype(np.int64)
    size = np.repeat(u.trade_size[chosen], kk) * np.exp(rng.normal(0.0, 0.3, len(sym)))
    trades = np.maximum(1, np.round(shares / size)).astype(np.int64)
    trades = np.minimum(trades, shares)
    return {"symbol": sym, "venue": venue, "shares": shares, "trades": trades}


def week_lines(
    u: Universe, tier: str, week: dt.date, rows: int, fmt: str, bad_rate: float
) -> tuple[str, pa.Array, dict[str, int]]:
    """The header and the data lines (an Arrow string array) of one file, and its bad-line counts."""
    rng = np.random.default_rng([u.seed, u.tier_index, week.toordinal(), rows, 1])
    n_bad = int(round(rows * bad_rate)) if bad_rate > 0 else 0
    kinds = rng.permutation(np.arange(n_bad) % len(BAD_KINDS))
    inserted = np.isin(kinds, [BAD_KINDS.index(k) for k in _INSERTED_KINDS])
    n_good = rows - int(inserted.sum())
    cols = week_columns(u, week, n_good)

    symbol = pa.array(u.symbols).take(pa.array(cols["symbol"]))
    mpid = pa.array(u.mpids).take(pa.array(cols["venue"]))
    shares = pa.array(cols["shares"]).cast(pa.string())
    trades = pa.array(cols["trades"]).cast(pa.string())
    tier_label = tier if fmt == "fixture" else FINRA_TIER_LABELS[tier]
    fields: dict[str, pa.Array] = {
        "week": pa.repeat(pa.scalar(week.isoformat()), n_good).cast(pa.string()),
        "tier": pa.repeat(pa.scalar(tier_label), n_good).cast(pa.string()),
        "symbol": symbol, "mpid": mpid, "shares": shares, "trades": trades,
    }
    if fmt == "finra":
        fields["issue_name"] = u.issue_names.take(pa.array(cols["symbol"]))
        fields["participant"] = u.venue_names.take(pa.array(cols["venue"]))
        fields["updated"] = pa.repeat(
            pa.scalar((week + dt.timedelta(days=3)).isoformat()), n_good
        ).cast(pa.string())

    counts = {k: 0 for k in BAD_KINDS}
    field_count_rows = np.zeros(n_good, dtype=bool)
    extra_rows: list[tuple[np.ndarray, str]] = []  # (base rows, kind) of added lines
    if n_bad:
        # distinct base lines: a mutation replaces its line, a duplicate follows its line
        base = rng.choice(n_good, n_bad, replace=n_bad > n_good)
        for index, kind in enumerate(BAD_KINDS):
            rows_k = base[kinds == index]
            counts[kind] = len(rows_k)
            if len(rows_k) == 0:
                continue
            if kind in _INSERTED_KINDS:
                extra_rows.append((rows_k, kind))
                continue
            _mutate(fields, rows_k, kind, tier, week, fmt, field_count_rows)

    order = FIELD_ORDER[fmt]
    lines = pc.binary_join_element_wise(*(fields[name] for name in order), "|")
    if field_count_rows.any():
        mask = pa.array(field_count_rows)
        idx = np.flatnonzero(field_count_rows)
        shorter = pc.binary_join_element_wise(*(fields[name] for name in order[:-1]), "|")
        longer = pc.binary_join_element_wise(lines, pa.scalar("EXTRA"), "|")
        pick_longer = pa.array(np.isin(np.arange(n_good), idx[::2]))
        lines = pc.if_else(mask, pc.if_else(pick_longer, longer, shorter), lines)
    if extra_rows:
        all_base = np.concatenate([r for r, _ in extra_rows])
        extra = []
        for rows_k, kind in extra_rows:
            if kind == "EXACT_DUPLICATE":
                extra.append(lines.take(pa.array(rows_k)))
            else:  # same symbol and MPID, other numbers: a later line of the same key
                dup = {name: fields[name].take(pa.array(rows_k)) for name in order}
                dup["shares"] = pc.add(dup["shares"].cast(pa.int64()), 1).cast(pa.string())
                extra.append(pc.binary_join_element_wise(*(dup[name] for name in order), "|"))
        # each added line right after the one it repeats: good row i at 2i, added at 2*base+1
        keys = np.concatenate([2 * np.arange(n_good), 2 * all_base + 1])
        merged = pa.concat_arrays([lines.cast(pa.string()), *(e.cast(pa.string()) for e in extra)])
        lines = merged.take(pa.array(np.argsort(keys, kind="stable")))
    header = FIXTURE_HEADER if fmt == "fixture" else FINRA_HEADER
    return header, lines, counts


FIELD_ORDER = {
    "fixture": ("week", "tier", "symbol", "mpid", "shares", "trades"),
    "finra": ("tier", "symbol", "issue_name", "participant", "mpid", "shares", "trades", "updated"),
}


def _mutate(fields, rows_k, kind, tier, week, fmt, field_count_rows) -> None:
    def put(name: str, new_values: pa.Array) -> None:
        mask = np.zeros(len(fields[name]), dtype=bool)
        mask[rows_k] = True
        scattered = np.zeros(len(fields[name]), dtype=np.int64)
        scattered[rows_k] = np.arange(len(rows_k))
        fields[name] = pc.if_else(pa.array(mask), new_values.take(pa.array(scattered)), fields[name])

    def take(name: str) -> pa.Array:
        return fields[name].take(pa.array(rows_k))

    n = len(rows_k)
    if kind == "FIELD_COUNT":
        field_count_rows[rows_k] = True
    elif kind == "NON_INTEGER_SHARES":
        put("shares", pc.binary_join_element_wise(take("shares"), pa.scalar(".5"), ""))
    elif kind == "WEEK_MISMATCH":
        if fmt == "fixture":
            put("week", pa.repeat(pa.scalar((week - dt.timedelta(weeks=1)).isoformat()), n).cast(pa.string()))
        else:
            put("updated", pa.repeat(pa.scalar(f"{week.year}-13-45"), n).cast(pa.string()))
    elif kind == "TIER_MISMATCH":
        other = TIERS[(TIERS.index(tier) + 1) % len(TIERS)]
        label = other if fmt == "fixture" else FINRA_TIER_LABELS[other]
        put("tier", pa.repeat(pa.scalar(label), n).cast(pa.string()))
    elif kind == "INVALID_SYMBOL":
        put("symbol", pc.binary_join_element_wise(take("symbol"), pa.scalar("$"), ""))
    elif kind == "INVALID_MPID":
        put("mpid", pc.utf8_slice_codeunits(take("mpid"), 0, 3))
    elif kind == "NEGATIVE_SHARES":
        put("shares", pc.binary_join_element_wise(pa.scalar("-"), take("shares"), ""))
    elif kind == "NEGATIVE_TRADES":
        put("trades", pc.binary_join_element_wise(pa.scalar("-"), take("trades"), ""))
    elif kind == "ZERO_SHARES":
        put("shares", pa.repeat(pa.scalar("0"), n).cast(pa.string()))
    else:  # pragma: no cover
        raise ValueError(kind)


def file_bytes(header: str, lines: pa.Array) -> bytes:
    """Header, then each line with an LF: one copy of Arrow's string buffer."""
    body = pc.binary_join_element_wise(lines, pa.scalar(""), "\n").cast(pa.large_string())
    if len(body) == 0:
        return (header + "\n").encode()
    offsets = np.frombuffer(body.buffers()[1], dtype=np.int64)[body.offset: body.offset + len(body) + 1]
    data = body.buffers()[2]
    return (header + "\n").encode() + data.to_pybytes()[offsets[0]: offsets[-1]]


# --------------------------------------------------------------------------- driver


def generate(
    out_dir: Path,
    rows_per_week: int,
    weeks: int,
    tiers: list[str],
    fmt: str = "fixture",
    bad_rate: float = 0.0,
    seed: int = 42,
    end_week: dt.date = dt.date(2025, 12, 26),
) -> list[Path]:
    """Write the files; return their paths, tier by tier, oldest week first."""
    if rows_per_week < 1:
        raise SystemExit("--rows-per-week must be at least 1")
    if not 0.0 <= bad_rate < 1.0:
        raise SystemExit("--bad-rate must be in [0, 1)")
    paths = []
    for tier in tiers:
        good = rows_per_week  # the universe fits the largest possible good set
        u = Universe(seed, TIERS.index(tier), good)
        folder = Path(out_dir) / tier.lower()
        folder.mkdir(parents=True, exist_ok=True)
        for week in fridays(end_week, weeks):
            header, lines, _ = week_lines(u, tier, week, rows_per_week, fmt, bad_rate)
            path = folder / f"week_{week.isoformat()}.psv"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(file_bytes(header, lines))
            tmp.replace(path)
            paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--rows-per-week", type=int, default=130_000)
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--tiers", nargs="+", default=["NMS_TIER_1"],
                        help="NMS_TIER_1 NMS_TIER_2 OTC (space- or comma-separated)")
    parser.add_argument("--format", choices=("fixture", "finra"), default="fixture")
    parser.add_argument("--bad-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-week", type=dt.date.fromisoformat, default=dt.date(2025, 12, 26))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    clock = time.perf_counter()
    paths = generate(args.out_dir, args.rows_per_week, args.weeks, parse_tiers(args.tiers),
                     args.format, args.bad_rate, args.seed, args.end_week)
    if not args.quiet:
        size = sum(p.stat().st_size for p in paths)
        print(f"wrote {len(paths)} files ({size / 2**20:.1f} MiB, {args.rows_per_week} rows each) "
              f"under {args.out_dir} in {time.perf_counter() - clock:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
