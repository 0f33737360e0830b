"""Ingest (`otc.ingest_week`): a source file's bytes to raw records and INGEST rejects."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from otc.columns import all_distinct
from otc.context import StageContext
from otc.reasons import RejectCode, RejectStage, Rule, first_failure, quoted, reject_rows
from otc.schemas import Table, conform
from otc.sources import SourceFile, SourceFormat, SourceLines, detect_format, split_fields, split_lines
from otc.tiers import canonical_tier_labels

_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclasses.dataclass(frozen=True)
class IngestCounts:
    """raw = parsed + rejected and parsed = inserted + skipped, always."""

    raw: int
    parsed: int
    inserted: int
    rejected: int
    skipped: int


@dataclasses.dataclass(frozen=True)
class IngestResult:
    source_format: SourceFormat
    raw: pa.Table
    rejects: pa.Table
    counts: IngestCounts


#: Lines parsed at a time: bounds the memory of intermediate columns on large files.
CHUNK_LINES = 1 << 18


def ingest(source: SourceFile, ctx: StageContext) -> IngestResult:
    """Parse every non-blank line after the header; reject what cannot be parsed, skip repeats."""
    lines = split_lines(source.data)
    fmt, has_header = detect_format(lines, source.locator)
    start = 1 if has_header else 0
    chunks = [_parse(lines.slice(i, CHUNK_LINES), fmt, ctx, source.locator)
              for i in range(start, len(lines), CHUNK_LINES)]
    parsed = pa.concat_tables([c.parsed for c in chunks]) if chunks else _parsed_columns().empty_table()
    rejects = (pa.concat_tables([c.rejects for c in chunks]) if chunks
               else conform(Table.REJECTS.schema.empty_table(), Table.REJECTS))
    keys = np.concatenate([c.hash_keys for c in chunks]) if chunks else np.zeros(0, np.uint64)
    first = first_occurrence(parsed["record_hash"], keys)
    kept = parsed if first is None else parsed.filter(first)
    n = kept.num_rows
    raw = pa.table({
        **ctx.key_columns(n),
        **{name: kept[name] for name in kept.column_names},
        "ingested_at": ctx.timestamp(n),
    })
    counts = IngestCounts(
        raw=len(lines) - start, parsed=parsed.num_rows, inserted=n,
        rejected=rejects.num_rows, skipped=parsed.num_rows - n,
    )
    return IngestResult(fmt, conform(raw, Table.RAW), rejects, counts)


def _parsed_columns() -> pa.Schema:
    names = ["record_hash", "source_line_number", "symbol", "mpid", "total_shares", "total_trades",
             "issue_name", "market_participant_name", "source_last_update_date"]
    return pa.schema([Table.RAW.schema.field(n) for n in names])


@dataclasses.dataclass(frozen=True)
class _Chunk:
    parsed: pa.Table  # with record_hash
    rejects: pa.Table
    hash_keys: np.ndarray  # uint64 per parsed row, from its hash


def _parse(lines: SourceLines, fmt: SourceFormat, ctx: StageContext, locator: str) -> _Chunk:
    """One chunk of lines: the parsed records and the INGEST rejects."""
    line_number = lines.line_number
    count, fields = split_fields(lines, fmt)
    shares = parse_int64(fields["total_shares"])
    trades = parse_int64(fields["total_trades"])
    expected_fields = len(fmt.fields)
    rules: list[Rule] = [
        (RejectCode.PARSE_ERROR, pc.invert(lines.decodable),
         lambda rows: pa.repeat(pa.scalar("Line is not valid UTF-8"), len(rows))),
        (RejectCode.PARSE_ERROR, pc.not_equal(count, expected_fields),
         lambda rows: pc.binary_join_element_wise(
             f"Expected {expected_fields} pipe-delimited fields, got ", pc.take(count, rows).cast(pa.string()), "")),
    ]
    if fmt is SourceFormat.FIXTURE:
        rules.append(_week_rule(fields["week_ending"], ctx))
    rules += [
        _tier_rule(fields["tier"], ctx),
        (RejectCode.PARSE_ERROR, pc.is_null(shares), _invalid("total_shares", fields["total_shares"])),
        (RejectCode.PARSE_ERROR, pc.is_null(trades), _invalid("total_trades", fields["total_trades"])),
    ]
    last_update = None
    if fmt is SourceFormat.FINRA:
        last_update = _nullify_empty(fields["source_last_update_date"])
        rules.append((
            RejectCode.PARSE_ERROR,
            pc.and_(pc.is_valid(last_update), pc.invert(_is_iso_date(last_update))),
            _invalid("lastUpdateDate", last_update),
        ))
    code, detail = first_failure(rules, len(lines))
    rejected = pc.is_valid(code)
    parsed = pc.invert(rejected)
    clean = code.null_count == len(code)  # the usual case: no filtering, no copies

    def keep(values: pa.Array) -> pa.Array:
        return values if clean else values.filter(parsed)

    symbol, mpid, good_shares, good_trades = keep(fields["symbol"]), keep(fields["mpid"]), keep(shares), keep(trades)
    n = len(symbol)

    def optional(name: str) -> pa.Array:
        values = fields.get(name)
        return keep(values) if values is not None else pa.nulls(n, pa.string())

    hashes, hash_keys = record_hashes(ctx, symbol, mpid, good_shares, good_trades)
    table = pa.table({
        "record_hash": hashes,
        "source_line_number": keep(line_number),
        "symbol": symbol,
        "mpid": mpid,
        "total_shares": good_shares,
        "total_trades": good_trades,
        "issue_name": optional("issue_name"),
        "market_participant_name": optional("market_participant_name"),
        "source_last_update_date": (
            _iso_dates(keep(last_update)) if last_update is not None else pa.nulls(n, pa.date32())
        ),
    }, schema=_parsed_columns())
    rejects = reject_rows(
        ctx, RejectStage.INGEST, locator,
        code.filter(rejected), detail.filter(rejected), line_number.filter(rejected),
        lines.texts().filter(rejected) if n < len(lines) else pa.array([], pa.string()),
        pa.nulls(len(lines) - n, pa.string()),
    )
    return _Chunk(table, rejects, hash_keys)


def parse_int64(text: pa.Array) -> pa.Array:
    """Plain decimal integers (optional sign) within int64; null for anything else."""
    well_formed = pc.fill_null(pc.match_substring_regex(text, r"^-?[0-9]+$"), False)
    if pc.all(well_formed).as_py():
        try:  # the common case: one cast; Arrow refuses out-of-range values
            return text.cast(pa.int64())
        except pa.ArrowInvalid:
            pass
    well_formed = pc.fill_null(pc.match_substring_regex(text, r"^[+-]?[0-9]+$"), False)
    negative = pc.starts_with(text, "-")
    digits = pc.replace_substring_regex(text, r"^[+-]?0*", "")
    length = pc.utf8_length(digits)
    limit = pc.if_else(negative, "9223372036854775808", "9223372036854775807")
    in_range = pc.or_(
        pc.less(length, 19), pc.and_(pc.equal(length, 19), pc.less_equal(digits, limit))
    )
    valid = pc.and_(well_formed, pc.fill_null(in_range, False))
    canonical = pc.binary_join_element_wise(
        pc.if_else(negative, "-", ""), pc.if_else(pc.equal(length, 0), "0", digits), ""
    )
    return pc.if_else(valid, canonical, pa.scalar(None, pa.string())).cast(pa.int64())


def record_hashes(
    ctx: StageContext, symbol: pa.Array, mpid: pa.Array, shares: pa.Array, trades: pa.Array
) -> tuple[pa.Array, np.ndarray]:
    """First 32 hex chars of sha256 over `week|tier|SYMBOL|MPID|shares|trades`, and each
    digest's first 8 bytes as a uint64 (equal hashes have equal keys: see `first_occurrence`)."""
    lines = pc.binary_join_element_wise(
        f"{ctx.week.isoformat()}|{ctx.tier.value}|", pc.utf8_upper(symbol), "|", pc.utf8_upper(mpid), "|",
        shares.cast(pa.string()), "|", trades.cast(pa.string()), "\n", "",
    )
    digests = sha256_lines(lines)
    return hex_prefix(digests, RECORD_HASH_CHARS // 2), digests[:, :8].copy().view("<u8").ravel()


RECORD_HASH_CHARS = 32
_DIGEST = type(hashlib.sha256()).digest
#: Each byte value's two lower-case hex characters, as one little-endian uint16.
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype="<u2")


def sha256_lines(lines: pa.Array) -> np.ndarray:
    """The sha256 digest of each value without its final line feed (every value ends in
    one), as an (n, 32) uint8 array.

    Arrow has no sha256 kernel, so hashlib hashes the values one by one; `map` keeps that
    loop in C (about 0.35 us a value), fed by one `bytes.split` per batch of values.
    """
    n = len(lines)
    digests = np.empty((n, 32), dtype=np.uint8)
    _, offset_buffer, data_buffer = lines.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int32)[lines.offset:lines.offset + n + 1]
    for start in range(0, n, _HASH_BATCH):
        stop = min(start + _HASH_BATCH, n)
        batch = _sha256_batch(data_buffer, offsets[start:stop + 1])
        digests[start:stop] = np.frombuffer(batch, dtype=np.uint8).reshape(stop - start, 32)
    return digests


#: Values hashed per batch. A batch's short-lived bytes objects (a few hundred kB) fit in
#: memory Python's allocator keeps for reuse; hashing a week at once made it map, and the
#: kernel fault in, some 20 MB of fresh pages every week.
_HASH_BATCH = 4096


def _sha256_batch(data_buffer: pa.Buffer, offsets: np.ndarray) -> bytes:
    """The concatenated digests of the values between consecutive `offsets`."""
    data = data_buffer.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()
    pieces = data.split(b"\n")
    if len(pieces) == len(offsets):
        pieces.pop()  # the empty piece after the last line feed
    else:  # some value holds a line feed of its own: cut each one out by its offsets
        ends = offsets - offsets[0]
        pieces = [data[a:b - 1] for a, b in zip(ends[:-1].tolist(), ends[1:].tolist())]
    return b"".join(map(_DIGEST, map(hashlib.sha256, pieces)))


def hex_prefix(digests: np.ndarray, length: int) -> pa.Array:
    """The first `length` bytes of each digest in lower-case hex, built as one buffer."""
    n = len(digests)
    text = _HEX_PAIRS[digests[:, :length]].tobytes()
    offsets = np.arange(0, 2 * length * (n + 1), 2 * length, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def first_occurrence(values: pa.Array | pa.ChunkedArray, keys: np.ndarray) -> np.ndarray | None:
    """Mask of each value's first occurrence; None when every value is distinct.

    `keys` (a number per value, equal for equal values) settle the common case cheaply:
    distinct keys prove distinct values; otherwise the values themselves are compared.
    """
    if all_distinct(keys):
        return None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    codes = pc.dictionary_encode(values).indices.to_numpy()
    if int(codes.max()) + 1 == len(codes):
        return None
    mask = np.zeros(len(codes), dtype=bool)
    mask[np.unique(codes, return_index=True)[1]] = True
    return mask


def _week_rule(week_text: pa.Array, ctx: StageContext) -> Rule:
    """Fixture rows carry their week: an ISO Friday equal to the week being processed."""
    expected = ctx.week.isoformat()

    def detail(rows: pa.Array) -> pa.Array:
        text = pc.take(week_text, rows)
        day = _iso_dates(text)
        weekday = pc.day_of_week(day)  # Monday 0 .. Sunday 6
        days = day.cast(pa.int32()).to_numpy(zero_copy_only=False)
        offset = (4 - weekday.to_numpy(zero_copy_only=False)) % 7
        friday = pa.array(np.nan_to_num(days + offset).astype(np.int32), pa.int32()).cast(pa.date32())
        not_friday = pc.binary_join_element_wise(
            "week_ending must be a Friday, got ", text, " (", pc.strftime(day, "%A"), "). Nearest Friday: ",
            pc.strftime(friday, "%Y-%m-%d"), "")
        mismatch = quoted("Week mismatch: file has ", text, f", expected {expected}")
        return pc.if_else(pc.is_null(day), quoted("Invalid week_ending: '", text),
                          pc.if_else(pc.equal(weekday, 4), mismatch, not_friday))

    return RejectCode.PARSE_ERROR, pc.not_equal(week_text, expected), detail


def _tier_rule(tier_text: pa.Array, ctx: StageContext) -> Rule:
    """The row's tier, in any of its accepted spellings, must be the tier being processed."""
    expected = ctx.tier.value
    failed = pc.fill_null(pc.not_equal(tier_text, expected), True).to_numpy(zero_copy_only=False).copy()
    unusual = np.flatnonzero(failed)  # only spellings other than the canonical one need mapping
    if unusual.size:
        same = pc.equal(canonical_tier_labels(pc.take(tier_text, unusual)), expected)
        failed[unusual[pc.fill_null(same, False).to_numpy(zero_copy_only=False)]] = False

    def detail(rows: pa.Array) -> pa.Array:
        text = pc.take(tier_text, rows)
        tier = canonical_tier_labels(text)
        return pc.if_else(pc.is_null(tier), quoted("Invalid tier: '", text),
                          quoted("Tier mismatch: file has ", tier, f", expected {expected}"))

    return RejectCode.PARSE_ERROR, failed, detail


def _invalid(name: str, values: pa.Array) -> Callable[[pa.Array], pa.Array]:
    return lambda rows: quoted(f"Invalid {name}: '", pc.take(values, rows))


def _iso_dates(text: pa.Array) -> pa.Array:
    """YYYY-MM-DD strings of real calendar days as date32; null for anything else."""
    shaped = pc.fill_null(pc.match_substring_regex(text, _ISO_DATE), False)
    parsed = pc.strptime(pc.if_else(shaped, text, None), "%Y-%m-%d", "s", error_is_null=True)
    day = parsed.cast(pa.date32())
    # strptime rolls impossible days over (2025-02-30 -> March): keep only exact round trips
    exact = pc.equal(pc.strftime(parsed, "%Y-%m-%d"), text)
    return pc.if_else(pc.fill_null(exact, False), day, pa.scalar(None, pa.date32()))


def _is_iso_date(text: pa.Array) -> pa.Array:
    return pc.is_valid(_iso_dates(text))


def _nullify_empty(text: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
