"""The peer: the whole backfill as one DuckDB SQL script, as a user might write it instead.

    python bench/peer.py OUT_DIR --tier NMS_TIER_1 FILE... [--reject-zero-volume] [--print-sql]
    python bench/peer.py --compare OUR_BUILD_DIR PEER_OUT_DIR   # check it computes what we do

It reads the week files (file names must be `week_<Friday>.psv`), applies the rules of docs/tables.md --
ingest parse rules and reject reasons in the same order, record_hash via DuckDB's sha256,
repeat lines skipped, normalize rules with DUPLICATE_KEY first-wins by line order, exact
half-away-from-zero rounding in integer/DECIMAL arithmetic (never DOUBLE), per symbol and
per MPID aggregates with the quality checks, the 6-week rolling window and the research
snapshot of the last week -- and writes the same tables as Parquet under OUT_DIR (zstd,
one directory per table, hive-partitioned by tier and week, partition columns kept in the
files).

Fair, not a strawman: DuckDB runs every statement on all cores (threads = nproc), reads
with its parallel CSV reader, and nothing round-trips through Python. Two choices a careful
user would make and we made too:

- Each file is read as whole lines (`read_csv` with one VARCHAR column and no quoting)
  `WITH ORDINALITY`, then split on '|' in SQL. Reading with `delim='|'` directly cannot
  tell a line with 7 fields from one with 6, loses the raw line a reject must show, and
  gives no physical line numbers (DUPLICATE_KEY "first wins by line order" needs them).
- Rounded ratios are `(2*|n|*10^s + d) // (2*d)` in HUGEINT, then scaled into DECIMAL:
  DuckDB's DECIMAL division returns DOUBLE, which rounds ties wrongly.

What it leaves out, since a one-shot script has no use for them: incremental state (no
manifest, batch file or per-stage records; every run recomputes everything) and the row
order within files (ours sorts; the comparison below sorts both sides).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import string
import sys
import time
from pathlib import Path

TIERS = {
    "NMS_TIER_1": "NMS_TIER_1", "NMS_TIER_2": "NMS_TIER_2", "OTC": "OTC",
    "T1": "NMS_TIER_1", "T2": "NMS_TIER_2", "OTCE": "OTC",
}
FIXTURE_HEADER = ["weekending", "tier", "symbol", "mpid", "totalshares", "totaltrades"]
FINRA_HEADER = [
    "tierdescription", "issuesymbolidentifier", "issuename", "marketparticipantname", "mpid",
    "totalweeklysharequantity", "totalweeklytradecount", "lastupdatedate",
]
VERSION = "v1.0.0"
_WEEK_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def detect(path: Path) -> tuple[str, int]:
    """The file's format and the physical line number of its header (0: no header)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
            if not text.strip():
                continue
            fields = [f.strip().lower() for f in text.split("|")]
            if fields == FIXTURE_HEADER:
                return "fixture", number
            if fields == FINRA_HEADER:
                return "finra", number
            if len(fields) == 6 and re.match(r"^\d{4}-\d{2}-\d{2}$", fields[0]):
                return "fixture", 0
            raise SystemExit(f"Unrecognised header in {path}: {text[:200]!r}")
    raise SystemExit(f"Source file is empty: {path}")


# The script. $-placeholders are filled by build_sql(); everything else is plain DuckDB SQL.
_PRELUDE = """
SET threads = $threads;
SET preserve_insertion_order = false;  -- rows carry their line numbers; order is not needed
SET VARIABLE run_at = now()::TIMESTAMPTZ;
-- a value quoted in a reject detail, cut to 200 characters
CREATE TEMP MACRO q(x) AS CASE WHEN length(coalesce(x, '')) > 200 THEN left(x, 200) || '...' ELSE coalesce(x, '') END;
"""

_LINE_SOURCE = """  SELECT DATE $week AS week_ending, $locator AS source_locator,
         ordinality::BIGINT AS line_number, rtrim(line, chr(13)) AS line
  FROM read_csv($locator, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '', escape = '',
                header = false, auto_detect = false) WITH ORDINALITY
  WHERE ordinality > $header_line"""

# Ingest: every non-blank physical line, split on '|' and trimmed as docs/tables.md says; the first
# failing parse rule; record_hash over the parsed values. Only reject lines keep their text.
_FIXTURE_FIELDS = """
    trim(f[1]) AS week_txt, trim(f[2]) AS tier_txt, trim(f[3]) AS symbol, trim(f[4]) AS mpid,
    trim(f[5]) AS shares_txt, trim(f[6]) AS trades_txt,
    NULL::VARCHAR AS issue_name, NULL::VARCHAR AS market_participant_name, NULL::VARCHAR AS update_txt"""
_FINRA_FIELDS = """
    NULL::VARCHAR AS week_txt, trim(f[1]) AS tier_txt, trim(f[2]) AS symbol, trim(f[5]) AS mpid,
    trim(f[6]) AS shares_txt, trim(f[7]) AS trades_txt,
    trim(f[3]) AS issue_name, trim(f[4]) AS market_participant_name, nullif(trim(f[8]), '') AS update_txt"""

_FIXTURE_WEEK_RULES = """
      WHEN week_d IS NULL THEN 'Invalid week_ending: ''' || q(week_txt) || ''''
      WHEN dayofweek(week_d) <> 5 THEN 'week_ending must be a Friday, got ' || q(week_txt) || ' (' || dayname(week_d) || ')'
      WHEN week_d <> week_ending THEN 'Week mismatch: file has ' || q(week_txt) || ', expected ' || week_ending::VARCHAR"""
_FINRA_UPDATE_RULE = """
      WHEN update_txt IS NOT NULL AND update_d IS NULL THEN 'Invalid lastUpdateDate: ''' || q(update_txt) || ''''"""

_INGEST = """
CREATE TEMP TABLE ingested AS
WITH lines AS (
  SELECT week_ending, source_locator, line_number, line, string_split(line, '|') AS f
  FROM ($sources) AS s
  WHERE line IS NOT NULL AND trim(line) <> ''),
fields AS (
  SELECT week_ending, source_locator, line_number, line, len(f) AS n_fields, $fields
  FROM lines),
typed AS (
  SELECT *,
    CASE WHEN regexp_full_match(week_txt, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
         THEN try_strptime(week_txt, '%Y-%m-%d')::DATE END AS week_d,
    CASE WHEN regexp_full_match(update_txt, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
         THEN try_strptime(update_txt, '%Y-%m-%d')::DATE END AS update_d,
    CASE replace(replace(upper(tier_txt), '-', '_'), ' ', '_')
         WHEN 'NMS_TIER_1' THEN 'NMS_TIER_1' WHEN 'T1' THEN 'NMS_TIER_1'
         WHEN 'NMS_TIER_2' THEN 'NMS_TIER_2' WHEN 'T2' THEN 'NMS_TIER_2'
         WHEN 'OTC' THEN 'OTC' WHEN 'OTCE' THEN 'OTC' END AS tier_c,
    CASE WHEN regexp_full_match(shares_txt, '[+-]?[0-9]+') THEN TRY_CAST(shares_txt AS BIGINT) END AS total_shares,
    CASE WHEN regexp_full_match(trades_txt, '[+-]?[0-9]+') THEN TRY_CAST(trades_txt AS BIGINT) END AS total_trades
  FROM fields),
judged AS (
  SELECT *, CASE
      WHEN n_fields <> $n_fields THEN 'Expected $n_fields pipe-delimited fields, got ' || n_fields::VARCHAR$week_rules
      WHEN tier_c IS NULL THEN 'Invalid tier: ''' || q(tier_txt) || ''''
      WHEN tier_c <> $tier THEN 'Tier mismatch: file has ' || q(tier_c) || ', expected ' || $tier
      WHEN total_shares IS NULL THEN 'Invalid total_shares: ''' || q(shares_txt) || ''''
      WHEN total_trades IS NULL THEN 'Invalid total_trades: ''' || q(trades_txt) || ''''$update_rule
    END AS parse_error
  FROM typed)
SELECT week_ending, source_locator, line_number, parse_error,
  CASE WHEN parse_error IS NOT NULL THEN line END AS line,
  symbol, mpid, total_shares, total_trades, issue_name, market_participant_name, update_txt,
  CASE WHEN parse_error IS NULL THEN left(sha256(
      week_ending::VARCHAR || '|' || $tier || '|' || upper(symbol) || '|' || upper(mpid) || '|'
      || total_shares::VARCHAR || '|' || total_trades::VARCHAR), 32) END AS record_hash
FROM judged;
"""

# Normalize: repeats skipped (first line wins), the first failing rule, then DUPLICATE_KEY
# among the records still accepted (the first line of a symbol and MPID wins).
_NORMALIZE = """
CREATE TEMP TABLE normalized AS
WITH raw AS (
  SELECT * EXCLUDE (parse_error, line), upper(symbol) AS symbol_n, upper(mpid) AS mpid_n
  FROM ingested WHERE parse_error IS NULL
  QUALIFY row_number() OVER (PARTITION BY week_ending, record_hash ORDER BY line_number) = 1),
checked AS (
  SELECT *, CASE
      WHEN NOT regexp_full_match(symbol_n, '[A-Z][A-Z0-9.\\-]{0,9}') THEN 'INVALID_SYMBOL'
      WHEN NOT regexp_full_match(mpid_n, '[A-Z0-9]{4}') THEN 'INVALID_MPID'
      WHEN total_shares < 0 THEN 'NEGATIVE_VOLUME'
      WHEN total_trades < 0 THEN 'NEGATIVE_TRADES'$zero_rule
    END AS rule_code
  FROM raw),
keyed AS (
  SELECT *, CASE WHEN rule_code IS NULL AND line_number <> first_line THEN 'DUPLICATE_KEY' ELSE rule_code END
            AS reject_reason
  FROM (SELECT *, min(line_number) OVER (PARTITION BY week_ending, symbol_n, mpid_n, rule_code IS NULL)
                  AS first_line
        FROM checked))
SELECT * EXCLUDE (rule_code),
  CASE WHEN reject_reason IS NULL THEN 'ACCEPTED' ELSE 'REJECTED' END AS status,
  CASE reject_reason
    WHEN 'INVALID_SYMBOL' THEN 'symbol=''' || q(symbol) || ''''
    WHEN 'INVALID_MPID' THEN 'mpid=''' || q(mpid) || ''''
    WHEN 'NEGATIVE_VOLUME' THEN 'total_shares=' || total_shares::VARCHAR
    WHEN 'NEGATIVE_TRADES' THEN 'total_trades=' || total_trades::VARCHAR
    WHEN 'ZERO_VOLUME' THEN 'total_shares=' || total_shares::VARCHAR
    WHEN 'DUPLICATE_KEY' THEN 'symbol=' || symbol_n || ' mpid=' || mpid_n
                              || ' already accepted at line ' || first_line::VARCHAR
  END AS reject_detail
FROM keyed;

CREATE TEMP TABLE venue_volume AS
SELECT week_ending, symbol_n AS symbol, mpid_n AS mpid, total_shares, total_trades,
  CASE WHEN total_trades = 0 THEN 0::DECIMAL(18, 2)
       ELSE ((200 * total_shares::HUGEINT + total_trades) // (2 * total_trades))::DECIMAL(18, 0)
            * 0.01::DECIMAL(3, 2) END::DECIMAL(18, 2) AS avg_trade_size,
  record_hash AS raw_record_hash
FROM normalized WHERE status = 'ACCEPTED';
"""

# Aggregate: per symbol, per MPID (market share of the tier-week), quality checks.
_AGGREGATE = """
CREATE TEMP TABLE symbol_summary AS
SELECT week_ending, symbol, total_volume, total_trades, venue_count,
  CASE WHEN total_trades = 0 THEN 0::DECIMAL(18, 2)
       ELSE ((200 * total_volume::HUGEINT + total_trades) // (2 * total_trades))::DECIMAL(18, 0)
            * 0.01::DECIMAL(3, 2) END::DECIMAL(18, 2) AS avg_trade_size
FROM (SELECT week_ending, symbol, sum(total_shares)::BIGINT AS total_volume,
             sum(total_trades)::BIGINT AS total_trades, count(*)::BIGINT AS venue_count
      FROM venue_volume GROUP BY week_ending, symbol);

CREATE TEMP TABLE venue_share AS
SELECT week_ending, mpid, total_volume, total_trades,
  CASE WHEN week_volume = 0 THEN 0::DECIMAL(9, 4)
       ELSE ((2000000 * total_volume::HUGEINT + week_volume) // (2 * week_volume))::DECIMAL(18, 0)
            * 0.0001::DECIMAL(5, 4) END::DECIMAL(9, 4) AS market_share_pct
FROM (SELECT *, sum(total_volume) OVER (PARTITION BY week_ending) AS week_volume
      FROM (SELECT week_ending, mpid, sum(total_shares)::BIGINT AS total_volume,
                   sum(total_trades)::BIGINT AS total_trades
            FROM venue_volume GROUP BY week_ending, mpid));

CREATE TEMP TABLE aggregate_checks AS
WITH weeks AS (SELECT DISTINCT week_ending FROM ingested),
vv AS (SELECT week_ending, count(*) FILTER (total_shares < 0) AS neg_v, count(*) FILTER (total_trades < 0) AS neg_t
       FROM venue_volume GROUP BY ALL),
ss AS (SELECT week_ending, count(*) AS n, count(*) - count(DISTINCT symbol) AS dup FROM symbol_summary GROUP BY ALL),
vs AS (SELECT week_ending, count(*) AS m, sum(market_share_pct)::DECIMAL(18, 4) AS share_sum
       FROM venue_share GROUP BY ALL),
w AS (SELECT weeks.week_ending, coalesce(neg_v, 0) AS neg_v, coalesce(neg_t, 0) AS neg_t,
             coalesce(n, 0) AS n, coalesce(dup, 0) AS dup, coalesce(m, 0) AS m,
             coalesce(share_sum, 0)::DECIMAL(18, 4) AS share_sum
      FROM weeks LEFT JOIN vv USING (week_ending) LEFT JOIN ss USING (week_ending) LEFT JOIN vs USING (week_ending))
SELECT week_ending, 'otc.aggregate_week' AS pipeline_name, c.* FROM w, LATERAL (VALUES
  (1, 'no_negative_volumes', 'INTEGRITY', CASE WHEN neg_v = 0 THEN 'PASS' ELSE 'FAIL' END, neg_v::VARCHAR, '0', '0',
      CASE WHEN neg_v = 0 THEN 'No negative volumes' ELSE neg_v::VARCHAR || ' negative volumes found' END),
  (2, 'no_negative_trades', 'INTEGRITY', CASE WHEN neg_t = 0 THEN 'PASS' ELSE 'FAIL' END, neg_t::VARCHAR, '0', '0',
      CASE WHEN neg_t = 0 THEN 'No negative trade counts' ELSE neg_t::VARCHAR || ' negative trade counts found' END),
  (3, 'market_share_sum_100', 'BUSINESS_RULE',
      CASE WHEN share_sum BETWEEN 99.9 AND 100.1 THEN 'PASS' ELSE 'FAIL' END, share_sum::VARCHAR, '100', '0.1',
      'Market shares sum to ' || share_sum::VARCHAR || '%'
      || CASE WHEN share_sum BETWEEN 99.9 AND 100.1 THEN '' ELSE ', outside [99.9, 100.1]' END),
  (4, 'no_duplicate_symbols', 'INTEGRITY', CASE WHEN dup = 0 THEN 'PASS' ELSE 'FAIL' END, dup::VARCHAR, '0', '0',
      CASE WHEN dup = 0 THEN 'No duplicate symbols' ELSE dup::VARCHAR || ' duplicate symbols found' END),
  (5, 'symbol_count_positive', 'COMPLETENESS', CASE WHEN n > 0 THEN 'PASS' ELSE 'FAIL' END, n::VARCHAR, '> 0', '0',
      n::VARCHAR || ' symbols'),
  (6, 'venue_count_positive', 'COMPLETENESS', CASE WHEN m > 0 THEN 'PASS' ELSE 'FAIL' END, m::VARCHAR, '> 0', '0',
      m::VARCHAR || ' venues')
) AS c(check_order, check_name, check_category, status, check_value, expected_value, tolerance, message);
"""

# Rolling 6 weeks for the last week W, and the research snapshot of W.
_ROLLING = """
CREATE TEMP TABLE rolling AS
SELECT DATE $last_week AS week_ending, symbol, (sv // n)::BIGINT AS avg_6w_volume, (st // n)::BIGINT AS avg_6w_trades,
  CASE WHEN unscaled > 500 THEN 'UP' WHEN unscaled < -500 THEN 'DOWN' ELSE 'FLAT' END AS trend_direction,
  (unscaled::DECIMAL(18, 0) * 0.01::DECIMAL(3, 2))::DECIMAL(18, 2) AS trend_pct,
  n AS weeks_in_window, n = 6 AS is_complete_window
FROM (
  SELECT *, CASE
      WHEN first_v = 0 THEN CASE WHEN last_v > 0 THEN 10000 ELSE 0 END
      ELSE sign(last_v - first_v) * ((2 * 10000 * abs(last_v - first_v)::HUGEINT + first_v) // (2 * first_v))
    END AS unscaled
  FROM (
    SELECT symbol, n, sv, st,
      CASE WHEN n >= 3 THEN v[1] + v[2] ELSE v[1] END AS first_v,
      CASE WHEN n >= 3 THEN v[-2] + v[-1] ELSE v[-1] END AS last_v
    FROM (SELECT symbol, count(*)::BIGINT AS n, sum(total_volume) AS sv, sum(total_trades) AS st,
                 list(total_volume::HUGEINT ORDER BY week_ending) AS v
          FROM symbol_summary
          WHERE week_ending BETWEEN DATE $last_week - INTERVAL 35 DAY AND DATE $last_week
          GROUP BY symbol)));

CREATE TEMP TABLE rolling_checks AS
WITH r AS (SELECT count(*) AS total, count(*) FILTER (is_complete_window) AS complete,
                  count(*) FILTER (avg_6w_volume = 0 OR avg_6w_trades = 0) AS zero FROM rolling),
p AS (SELECT *, CASE WHEN total = 0 THEN '0.0'
                     ELSE ((2000 * complete::HUGEINT + total) // (2 * total))::DECIMAL(18, 0)
                          * 0.1::DECIMAL(2, 1) END::DECIMAL(18, 1)::VARCHAR AS pct FROM r)
SELECT DATE $last_week AS week_ending, 'otc.compute_rolling_6w' AS pipeline_name, c.* FROM p, LATERAL (VALUES
  (1, 'rolling_window_complete', 'COMPLETENESS',
      CASE WHEN total > 0 AND 2 * complete >= total THEN 'PASS' ELSE 'WARN' END,
      complete::VARCHAR || '/' || total::VARCHAR || ' (' || pct || '%)', '>= 50%', NULL,
      complete::VARCHAR || ' of ' || total::VARCHAR || ' symbols have all 6 weeks'),
  (2, 'no_zero_rolling_volume', 'INTEGRITY', CASE WHEN zero > 0 THEN 'WARN' ELSE 'PASS' END, zero::VARCHAR, '0', '0',
      CASE WHEN zero > 0 THEN zero::VARCHAR || ' symbols have a zero 6-week average' ELSE 'No zero 6-week averages' END)
) AS c(check_order, check_name, check_category, status, check_value, expected_value, tolerance, message);

CREATE TEMP TABLE snapshot AS
WITH s AS (SELECT * FROM symbol_summary WHERE week_ending = DATE $last_week),
top AS (SELECT symbol, arg_min(mpid, (-total_shares, mpid)) AS top_venue_mpid, max(total_shares) AS top_shares
        FROM venue_volume WHERE week_ending = DATE $last_week GROUP BY symbol),
q AS (SELECT CASE max(CASE status WHEN 'FAIL' THEN 2 WHEN 'WARN' THEN 1 ELSE 0 END)
               WHEN 2 THEN 'FAIL' WHEN 1 THEN 'WARN' ELSE 'PASS' END AS quality_status
      FROM (SELECT status FROM aggregate_checks WHERE week_ending = DATE $last_week
            UNION ALL SELECT status FROM rolling_checks))
SELECT s.week_ending, s.symbol, s.total_volume, s.total_trades, s.venue_count, s.avg_trade_size,
  top.top_venue_mpid,
  CASE WHEN s.total_volume = 0 THEN 0::DECIMAL(9, 4)
       ELSE ((2000000 * coalesce(top.top_shares, 0)::HUGEINT + s.total_volume) // (2 * s.total_volume))::DECIMAL(18, 0)
            * 0.0001::DECIMAL(5, 4) END::DECIMAL(9, 4) AS top_venue_share_pct,
  r.avg_6w_volume AS rolling_avg_6w_volume, r.avg_6w_trades AS rolling_avg_6w_trades,
  r.trend_direction AS rolling_trend_direction, r.weeks_in_window AS rolling_weeks_available,
  r.is_complete_window AS rolling_is_complete, r.symbol IS NOT NULL AS has_rolling_data,
  q.quality_status
FROM s LEFT JOIN top USING (symbol) LEFT JOIN rolling r USING (symbol), q;
"""

# Outputs: the contract's tables, with the lineage and time columns a user would add.
_OUTPUT_SELECTS = {
    "otc_raw": """SELECT week_ending, $tier AS tier, record_hash, line_number AS source_line_number, symbol, mpid,
         total_shares, total_trades, issue_name, market_participant_name, update_txt AS source_last_update_date,
         getvariable('run_at') AS ingested_at $lineage FROM normalized""",
    "otc_rejects": """SELECT week_ending, $tier AS tier, 'INGEST' AS stage, 'PARSE_ERROR' AS reason_code,
         parse_error AS reason_detail, source_locator, line_number, left(line, 500) AS raw_line,
         NULL::VARCHAR AS raw_record_hash, getvariable('run_at') AS created_at $lineage
       FROM ingested WHERE parse_error IS NOT NULL
       UNION ALL
       SELECT week_ending, $tier, 'NORMALIZE', reject_reason, reject_detail, source_locator, line_number,
         left(week_ending::VARCHAR || '|' || $tier || '|' || symbol || '|' || mpid || '|'
              || total_shares::VARCHAR || '|' || total_trades::VARCHAR, 500),
         record_hash, getvariable('run_at') $lineage
       FROM normalized WHERE status = 'REJECTED'""",
    "otc_normalization_map": """SELECT week_ending, $tier AS tier, record_hash AS raw_record_hash,
         CASE WHEN status = 'ACCEPTED' THEN symbol_n END AS symbol, CASE WHEN status = 'ACCEPTED' THEN mpid_n END AS mpid,
         status, reject_reason, reject_detail, getvariable('run_at') AS created_at $lineage FROM normalized""",
    "otc_venue_volume": """SELECT week_ending, $tier AS tier, symbol, mpid, total_shares, total_trades, avg_trade_size,
         raw_record_hash, getvariable('run_at') AS normalized_at $lineage FROM venue_volume""",
    "otc_symbol_summary": """SELECT week_ending, $tier AS tier, symbol, total_volume, total_trades, venue_count,
         avg_trade_size, '$version' AS calculation_version, getvariable('run_at') AS calculated_at $lineage
       FROM symbol_summary""",
    "otc_venue_share": """SELECT week_ending, $tier AS tier, mpid, total_volume, total_trades, market_share_pct,
         '$version' AS calculation_version, getvariable('run_at') AS calculated_at $lineage FROM venue_share""",
    "otc_quality_checks": """SELECT week_ending, $tier AS tier, pipeline_name, check_name, check_category, status,
         check_value, expected_value, tolerance, message, getvariable('run_at') AS created_at $lineage
       FROM (SELECT * FROM aggregate_checks UNION ALL SELECT * FROM rolling_checks)""",
    "otc_symbol_rolling_6w": """SELECT week_ending, $tier AS tier, symbol, avg_6w_volume, avg_6w_trades,
         trend_direction, trend_pct, weeks_in_window, is_complete_window, '$version' AS rolling_version,
         getvariable('run_at') AS calculated_at $lineage FROM rolling""",
    "otc_research_snapshot": """SELECT week_ending, $tier AS tier, symbol, total_volume, total_trades, venue_count,
         avg_trade_size, top_venue_mpid, top_venue_share_pct, rolling_avg_6w_volume, rolling_avg_6w_trades,
         rolling_trend_direction, rolling_weeks_available, rolling_is_complete, has_rolling_data, quality_status,
         '$version' AS snapshot_version, getvariable('run_at') AS created_at $lineage FROM snapshot""",
}
_COPY = """COPY ($select) TO $path
  (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (tier, week_ending), WRITE_PARTITION_COLUMNS true,
   OVERWRITE_OR_IGNORE true);
"""


def week_of(path: Path) -> dt.date:
    found = _WEEK_IN_NAME.search(path.name)
    if not found:
        raise SystemExit(f"cannot tell the week of {path}: expected week_<YYYY-MM-DD>.psv")
    return dt.date.fromisoformat(found.group(1))


def build_sql(files: list[Path], tier: str, out_dir: Path, reject_zero_volume: bool = False,
              threads: int | None = None) -> str:
    """The whole script for these files (all of one format), writing under out_dir."""
    import os

    tier = TIERS[tier.strip().upper().replace("-", "_").replace(" ", "_")]
    files = sorted(files, key=week_of)
    detected = [detect(p) for p in files]
    formats = {fmt for fmt, _ in detected}
    if len(formats) != 1:
        raise SystemExit(f"peer: one source format per run, got {sorted(formats)}")
    fmt = formats.pop()
    sources = "\n  UNION ALL\n".join(
        string.Template(_LINE_SOURCE).substitute(
            week=sql_str(week_of(p).isoformat()), locator=sql_str(str(p)), header_line=header
        )
        for p, (_, header) in zip(files, detected)
    )
    last_week = sql_str(max(week_of(p) for p in files).isoformat())
    values = dict(
        threads=threads or os.cpu_count() or 1,
        sources=sources,
        fields=_FIXTURE_FIELDS if fmt == "fixture" else _FINRA_FIELDS,
        n_fields=6 if fmt == "fixture" else 8,
        week_rules=_FIXTURE_WEEK_RULES if fmt == "fixture" else "",
        update_rule=_FINRA_UPDATE_RULE if fmt == "finra" else "",
        zero_rule="\n    WHEN total_shares = 0 THEN 'ZERO_VOLUME'" if reject_zero_volume else "",
        tier=sql_str(tier),
        last_week=last_week,
        version=VERSION,
        lineage=", 'peer' AS execution_id, 'peer' AS batch_id",
    )
    parts = [_PRELUDE, _INGEST, _NORMALIZE, _AGGREGATE, _ROLLING]
    script = "".join(string.Template(p).substitute(values) for p in parts)
    for table, select in _OUTPUT_SELECTS.items():
        select = string.Template(select).substitute(values)
        script += string.Template(_COPY).substitute(select=select, path=sql_str(str(out_dir / table)))
    return script


def run(files: list[Path], tier: str, out_dir: Path, reject_zero_volume: bool = False,
        threads: int | None = None) -> None:
    import duckdb

    script = build_sql(files, tier, out_dir, reject_zero_volume, threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(script)
    con.close()


# --------------------------------------------------------------------------- comparison

#: Per table: the columns compared (lineage, times and the source path are not).
COMPARED = {
    "otc_raw": ["week_ending", "tier", "record_hash", "source_line_number", "symbol", "mpid", "total_shares",
                "total_trades", "issue_name", "market_participant_name", "source_last_update_date"],
    "otc_rejects": ["week_ending", "tier", "stage", "reason_code", "reason_detail", "line_number", "raw_line",
                    "raw_record_hash"],
    "otc_normalization_map": ["week_ending", "tier", "raw_record_hash", "symbol", "mpid", "status",
                              "reject_reason", "reject_detail"],
    "otc_venue_volume": ["week_ending", "tier", "symbol", "mpid", "total_shares", "total_trades",
                         "avg_trade_size", "raw_record_hash"],
    "otc_symbol_summary": ["week_ending", "tier", "symbol", "total_volume", "total_trades", "venue_count",
                           "avg_trade_size", "calculation_version"],
    "otc_venue_share": ["week_ending", "tier", "mpid", "total_volume", "total_trades", "market_share_pct"],
    # the checks' wording (expected, tolerance, message) is ours to change: compare the verdicts
    "otc_quality_checks": ["week_ending", "tier", "pipeline_name", "check_name", "check_category", "status",
                           "check_value"],
    "otc_symbol_rolling_6w": ["week_ending", "tier", "symbol", "avg_6w_volume", "avg_6w_trades",
                              "trend_direction", "trend_pct", "weeks_in_window", "is_complete_window"],
    "otc_research_snapshot": ["week_ending", "tier", "symbol", "total_volume", "total_trades", "venue_count",
                              "avg_trade_size", "top_venue_mpid", "top_venue_share_pct", "rolling_avg_6w_volume",
                              "rolling_avg_6w_trades", "rolling_trend_direction", "rolling_weeks_available",
                              "rolling_is_complete", "has_rolling_data", "quality_status"],
}


def _read(root: Path, table: str, columns: list[str], weeks: set[dt.date] | None):
    """One table as pyarrow.dataset reads its directory (no options: every file carries its
    week_ending and tier), rows sorted on every compared column."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    folder = root / table
    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return None
    data = ds.dataset(folder, format="parquet")
    filter_ = None
    if weeks is not None:
        filter_ = pc.field("week_ending").isin(pa.array(sorted(weeks), pa.date32()))
    result = data.to_table(columns=columns, filter=filter_)
    return result.sort_by([(c, "ascending") for c in columns])


def compare(ours: Path, peer: Path, tables: list[str] | None = None) -> list[str]:
    """Differences between our build and the peer's output, table by table ([] when equal).

    Only the peer's weeks are compared (our build may hold more); rolling, snapshot and the
    rolling quality checks only for the peer's last week.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    problems = []
    summary = _read(peer, "otc_symbol_summary", ["week_ending"], None)
    peer_weeks = set(summary["week_ending"].to_pylist()) if summary is not None else set()
    for table in tables or list(COMPARED):
        columns = COMPARED[table]
        mine = _read(ours, table, columns, peer_weeks)
        theirs = _read(peer, table, columns, peer_weeks)
        if theirs is not None and mine is not None and table in ("otc_symbol_rolling_6w", "otc_research_snapshot"):
            mine = mine.filter(pc.is_in(mine["week_ending"], value_set=theirs["week_ending"].unique()))
        if table == "otc_quality_checks" and mine is not None and theirs is not None:
            rolling_weeks = theirs.filter(pc.equal(theirs["pipeline_name"], "otc.compute_rolling_6w"))["week_ending"]
            keep = pc.or_(pc.equal(mine["pipeline_name"], "otc.aggregate_week"),
                          pc.is_in(mine["week_ending"], value_set=rolling_weeks.unique()))
            mine = mine.filter(keep)
        n_mine = 0 if mine is None else mine.num_rows
        n_theirs = 0 if theirs is None else theirs.num_rows
        if n_mine != n_theirs:
            problems.append(f"{table}: {n_mine} rows in ours, {n_theirs} in the peer's")
            continue
        if n_mine == 0:
            continue
        if mine.schema != theirs.schema:
            common = pa.schema([f.with_nullable(True) for f in theirs.schema])
            try:
                mine, theirs = mine.cast(common), theirs.cast(common)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                problems.append(f"{table}: types differ ({exc})")
                continue
        if not mine.equals(theirs):
            for column in columns:
                a, b = mine[column], theirs[column]
                if not a.equals(b):
                    differs = pc.invert(pc.fill_null(pc.equal(a, b), False))
                    same_null = pc.and_(pc.is_null(a), pc.is_null(b))
                    differs = pc.and_(differs, pc.invert(same_null))
                    index = pc.index(differs, True).as_py()
                    if index >= 0:
                        problems.append(
                            f"{table}.{column}: row {index}: ours {a[index].as_py()!r}, peer {b[index].as_py()!r}"
                        )
                        break
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, nargs="?")
    parser.add_argument("files", type=Path, nargs="*")
    parser.add_argument("--tier", default="NMS_TIER_1")
    parser.add_argument("--reject-zero-volume", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    parser.add_argument("--print-sql", action="store_true", help="print the script instead of running it")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OUR_BUILD_DIR", "PEER_OUT_DIR"))
    args = parser.parse_args(argv)
    if args.compare:
        problems = compare(*args.compare)
        for line in problems:
            print(line)
        print("peer output equals ours" if not problems else f"{len(problems)} difference(s)")
        return 1 if problems else 0
    if args.out_dir is None or not args.files:
        parser.error("OUT_DIR and at least one FILE are required")
    if args.print_sql:
        print(build_sql(args.files, args.tier, args.out_dir, args.reject_zero_volume, args.threads))
        return 0
    clock = time.perf_counter()
    run(args.files, args.tier, args.out_dir, args.reject_zero_volume, args.threads)
    print(f"peer: {len(args.files)} files in {time.perf_counter() - clock:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
