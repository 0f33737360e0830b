"""Golden values for the bundled fixtures in data/fixtures/otc (tier NMS_TIER_1).

Literal expected outputs of `doit backfill tier=NMS_TIER_1 start_week=2025-11-21
end_week=2025-12-26 source_dir=data/fixtures/otc`, written down by hand-checked
arithmetic (never produced by running otc/). Rules are those of docs/tables.md.

How the numbers were derived
----------------------------
Rounding is always half away from zero (Decimal ROUND_HALF_UP) on the exact
quotient; never binary floats.

* Normalize: 72 raw lines, 71 accepted. The one reject is line 7 of
  week_2025-12-05.psv (`BAD$YM`: `$` fails ^[A-Z][A-Z0-9.\\-]{0,9}$), reason
  INVALID_SYMBOL. It is excluded from every aggregate below.

* SYMBOL_SUMMARY: per week and symbol, total_volume = sum of TotalShares,
  total_trades = sum of TotalTrades, venue_count = distinct MPIDs,
  avg_trade_size = total_volume / total_trades to 2 dp.
    AAPL 2025-12-26: 1000500 + 800000 + 493300 = 2293800 shares,
      4000 + 3200 + 1900 = 9100 trades; 2293800 / 9100 = 252.0659.. -> 252.07.
    Ties (exact 3rd decimal 5, rounds up; half-even or float would give ..2):
      AMD  2025-11-28: (500000 + 350000) / (1900 + 1300) = 850000 / 3200 = 265.625 -> 265.63
      MSFT 2025-12-26: (629000 + 500000) / (4400 + 3600) = 1129000 / 8000 = 141.125 -> 141.13
    Row-level ties (otc_venue_volume.avg_trade_size), see ROW_AVG_TRADE_SIZE_TIES:
      AAPL/VIRT 2025-11-21: 250125 / 1000 = 250.125 -> 250.13
      AAPL/NITE 2025-12-26: 1000500 / 4000 = 250.125 -> 250.13

* VENUE_SHARE: market_share_pct = 100 * mpid volume / week volume, 4 dp.
    Week 2025-12-12 volume = 2180000 + 760000 + 1140000 + 3000000 + 1560000 = 8640000.
    NITE = 1200108 (AAPL) + 400000 (AMD) + 500000 (MSFT) + 600000 (NVDA) = 2700108;
      100 * 2700108 / 8640000 = 31.25 + 0.00125 = 31.25125 -> 31.2513 (tie).
    Rounded shares sum to 100.0000 except 2025-12-05 (99.9999) and
    2025-12-19 (100.0001): all inside [99.9, 100.1], so market_share_sum_100 PASSes.

* ROLLING_2025_12_26: window = the six fixture weeks; every symbol trades in
  all six, so weeks_in_window = 6 and is_complete_window = True for all.
    avg_6w_volume = floor(sum / 6), avg_6w_trades likewise:
      AAPL volume 1950000 + 2050000 + 2120003 + 2180000 + 2200000 + 2293800
        = 12793803; / 6 = 2132300.5 -> floor 2132300 (rounding would give 2132301).
      AAPL trades 7100 + 8100 + 8589 + 8751 + 8750 + 9100 = 50390; / 6 = 8398.33 -> 8398.
      MSFT trades 31511 / 6 = 5251.83 -> 5251 (rounding would give 5252).
    Trend (3+ weeks): first = mean of weeks 1-2, last = mean of weeks 5-6
    (each pair sums to an even number, so the means are whole shares),
    trend_pct = (last - first) / first * 100, 2 dp; UP if > 5, DOWN if < -5,
    else FLAT, compared on the rounded trend_pct.
      AAPL: first (1950000 + 2050000) / 2 = 2000000, last (2200000 + 2293800) / 2 = 2246900;
            246900 / 2000000 * 100 = 12.345 -> 12.35 (tie) -> UP
      AMD:  first 900000, last 700000; -200000 / 900000 * 100 = -22.2222.. -> -22.22 -> DOWN
      MSFT: first (1230000 + 1170000) / 2 = 1200000, last (1100000 + 1129000) / 2 = 1114500;
            -85500 / 1200000 * 100 = -7.125 -> -7.13 (tie, away from zero) -> DOWN
      NVDA: first 3000000, last 3100000; 100000 / 3000000 * 100 = 3.3333.. -> 3.33 -> FLAT
      TSLA: first (1480000 + 1520000) / 2 = 1500000, last (1570000 + 1580120) / 2 = 1575060;
            75060 / 1500000 * 100 = 5.004 -> 5.00 -> FLAT (5.00 is not > 5; the
            unrounded 5.004 would have said UP).

* SNAPSHOT_2025_12_26: W's summary + top venue + rolling fields.
    top_venue_share_pct = 100 * top venue shares / symbol volume, 4 dp:
      NVDA: VIRT 1560039 vs CDEL 1559961; 100 * 1560039 / 3120000 = 50.00125 -> 50.0013 (tie)
      TSLA: VIRT 600000 and NITE 600000 tie on shares (VIRT comes first in the
            file); the smaller MPID wins -> NITE; 100 * 600000 / 1580120 = 37.97179.. -> 37.9718
      AAPL: NITE 100 * 1000500 / 2293800 = 43.61757.. -> 43.6176
    quality_status: every check of 2025-12-26 PASSes (shares sum 100.0000, no
    negatives, 5 symbols and 4 venues, no duplicate symbols, rolling 5/5 complete,
    no zero rolling average), so "PASS".
"""

from datetime import date
from decimal import Decimal

BACKFILL_METRICS = {
    "weeks_requested": 6,
    "weeks_processed": 6,
    "total_raw_lines": 72,
    "total_ingested": 72,
    "total_normalized": 71,
    "total_rejected": 1,
    "total_skipped": 0,
}

REJECTS = [
    {
        "week_ending": date(2025, 12, 5),
        "stage": "NORMALIZE",
        "line_number": 7,
        "reason_code": "INVALID_SYMBOL",
        "raw_line": "2025-12-05|NMS_TIER_1|BAD$YM|VIRT|12345|67",
    },
]

ROW_AVG_TRADE_SIZE_TIES = [
    {"week_ending": date(2025, 11, 21), "symbol": "AAPL", "mpid": "VIRT", "total_shares": 250125, "total_trades": 1000, "avg_trade_size": Decimal("250.13")},
    {"week_ending": date(2025, 12, 26), "symbol": "AAPL", "mpid": "NITE", "total_shares": 1000500, "total_trades": 4000, "avg_trade_size": Decimal("250.13")},
]

SYMBOL_SUMMARY = [
    {"week_ending": date(2025, 11, 21), "symbol": "AAPL", "total_volume": 1950000, "total_trades": 7100, "venue_count": 3, "avg_trade_size": Decimal("274.65")},
    {"week_ending": date(2025, 11, 21), "symbol": "AMD", "total_volume": 950000, "total_trades": 4350, "venue_count": 2, "avg_trade_size": Decimal("218.39")},
    {"week_ending": date(2025, 11, 21), "symbol": "MSFT", "total_volume": 1230000, "total_trades": 5100, "venue_count": 3, "avg_trade_size": Decimal("241.18")},
    {"week_ending": date(2025, 11, 21), "symbol": "NVDA", "total_volume": 2900000, "total_trades": 11800, "venue_count": 2, "avg_trade_size": Decimal("245.76")},
    {"week_ending": date(2025, 11, 21), "symbol": "TSLA", "total_volume": 1480000, "total_trades": 7000, "venue_count": 2, "avg_trade_size": Decimal("211.43")},
    {"week_ending": date(2025, 11, 28), "symbol": "AAPL", "total_volume": 2050000, "total_trades": 8100, "venue_count": 3, "avg_trade_size": Decimal("253.09")},
    {"week_ending": date(2025, 11, 28), "symbol": "AMD", "total_volume": 850000, "total_trades": 3200, "venue_count": 2, "avg_trade_size": Decimal("265.63")},
    {"week_ending": date(2025, 11, 28), "symbol": "MSFT", "total_volume": 1170000, "total_trades": 4697, "venue_count": 2, "avg_trade_size": Decimal("249.10")},
    {"week_ending": date(2025, 11, 28), "symbol": "NVDA", "total_volume": 3100000, "total_trades": 12363, "venue_count": 3, "avg_trade_size": Decimal("250.75")},
    {"week_ending": date(2025, 11, 28), "symbol": "TSLA", "total_volume": 1520000, "total_trades": 6980, "venue_count": 2, "avg_trade_size": Decimal("217.77")},
    {"week_ending": date(2025, 12, 5), "symbol": "AAPL", "total_volume": 2120003, "total_trades": 8589, "venue_count": 3, "avg_trade_size": Decimal("246.83")},
    {"week_ending": date(2025, 12, 5), "symbol": "AMD", "total_volume": 800000, "total_trades": 3192, "venue_count": 2, "avg_trade_size": Decimal("250.63")},
    {"week_ending": date(2025, 12, 5), "symbol": "MSFT", "total_volume": 1149750, "total_trades": 4600, "venue_count": 2, "avg_trade_size": Decimal("249.95")},
    {"week_ending": date(2025, 12, 5), "symbol": "NVDA", "total_volume": 3051250, "total_trades": 12247, "venue_count": 2, "avg_trade_size": Decimal("249.14")},
    {"week_ending": date(2025, 12, 5), "symbol": "TSLA", "total_volume": 1500000, "total_trades": 6056, "venue_count": 2, "avg_trade_size": Decimal("247.69")},
    {"week_ending": date(2025, 12, 12), "symbol": "AAPL", "total_volume": 2180000, "total_trades": 8751, "venue_count": 2, "avg_trade_size": Decimal("249.11")},
    {"week_ending": date(2025, 12, 12), "symbol": "AMD", "total_volume": 760000, "total_trades": 2979, "venue_count": 2, "avg_trade_size": Decimal("255.12")},
    {"week_ending": date(2025, 12, 12), "symbol": "MSFT", "total_volume": 1140000, "total_trades": 4648, "venue_count": 3, "avg_trade_size": Decimal("245.27")},
    {"week_ending": date(2025, 12, 12), "symbol": "NVDA", "total_volume": 3000000, "total_trades": 11975, "venue_count": 3, "avg_trade_size": Decimal("250.52")},
    {"week_ending": date(2025, 12, 12), "symbol": "TSLA", "total_volume": 1560000, "total_trades": 6289, "venue_count": 2, "avg_trade_size": Decimal("248.05")},
    {"week_ending": date(2025, 12, 19), "symbol": "AAPL", "total_volume": 2200000, "total_trades": 8750, "venue_count": 3, "avg_trade_size": Decimal("251.43")},
    {"week_ending": date(2025, 12, 19), "symbol": "AMD", "total_volume": 720000, "total_trades": 2908, "venue_count": 2, "avg_trade_size": Decimal("247.59")},
    {"week_ending": date(2025, 12, 19), "symbol": "MSFT", "total_volume": 1100000, "total_trades": 4466, "venue_count": 2, "avg_trade_size": Decimal("246.31")},
    {"week_ending": date(2025, 12, 19), "symbol": "NVDA", "total_volume": 3080000, "total_trades": 12244, "venue_count": 2, "avg_trade_size": Decimal("251.55")},
    {"week_ending": date(2025, 12, 19), "symbol": "TSLA", "total_volume": 1570000, "total_trades": 6236, "venue_count": 3, "avg_trade_size": Decimal("251.76")},
    {"week_ending": date(2025, 12, 26), "symbol": "AAPL", "total_volume": 2293800, "total_trades": 9100, "venue_count": 3, "avg_trade_size": Decimal("252.07")},
    {"week_ending": date(2025, 12, 26), "symbol": "AMD", "total_volume": 680000, "total_trades": 2739, "venue_count": 2, "avg_trade_size": Decimal("248.27")},
    {"week_ending": date(2025, 12, 26), "symbol": "MSFT", "total_volume": 1129000, "total_trades": 8000, "venue_count": 2, "avg_trade_size": Decimal("141.13")},
    {"week_ending": date(2025, 12, 26), "symbol": "NVDA", "total_volume": 3120000, "total_trades": 12485, "venue_count": 2, "avg_trade_size": Decimal("249.90")},
    {"week_ending": date(2025, 12, 26), "symbol": "TSLA", "total_volume": 1580120, "total_trades": 6420, "venue_count": 3, "avg_trade_size": Decimal("246.12")},
]

VENUE_SHARE = [
    {"week_ending": date(2025, 11, 21), "mpid": "CDEL", "total_volume": 2899875, "total_trades": 11500, "market_share_pct": Decimal("34.0761")},
    {"week_ending": date(2025, 11, 21), "mpid": "NITE", "total_volume": 2500000, "total_trades": 10500, "market_share_pct": Decimal("29.3772")},
    {"week_ending": date(2025, 11, 21), "mpid": "UBSS", "total_volume": 880000, "total_trades": 3600, "market_share_pct": Decimal("10.3408")},
    {"week_ending": date(2025, 11, 21), "mpid": "VIRT", "total_volume": 2230125, "total_trades": 9750, "market_share_pct": Decimal("26.2059")},
    {"week_ending": date(2025, 11, 28), "mpid": "CDEL", "total_volume": 1650000, "total_trades": 6846, "market_share_pct": Decimal("18.9873")},
    {"week_ending": date(2025, 11, 28), "mpid": "NITE", "total_volume": 3320000, "total_trades": 12585, "market_share_pct": Decimal("38.2048")},
    {"week_ending": date(2025, 11, 28), "mpid": "UBSS", "total_volume": 1320000, "total_trades": 5102, "market_share_pct": Decimal("15.1899")},
    {"week_ending": date(2025, 11, 28), "mpid": "VIRT", "total_volume": 2400000, "total_trades": 10807, "market_share_pct": Decimal("27.6180")},
    {"week_ending": date(2025, 12, 5), "mpid": "CDEL", "total_volume": 2600003, "total_trades": 10214, "market_share_pct": Decimal("30.1589")},
    {"week_ending": date(2025, 12, 5), "mpid": "NITE", "total_volume": 2520000, "total_trades": 10472, "market_share_pct": Decimal("29.2309")},
    {"week_ending": date(2025, 12, 5), "mpid": "UBSS", "total_volume": 899750, "total_trades": 3421, "market_share_pct": Decimal("10.4367")},
    {"week_ending": date(2025, 12, 5), "mpid": "VIRT", "total_volume": 2601250, "total_trades": 10577, "market_share_pct": Decimal("30.1734")},
    {"week_ending": date(2025, 12, 12), "mpid": "CDEL", "total_volume": 2739892, "total_trades": 10908, "market_share_pct": Decimal("31.7117")},
    {"week_ending": date(2025, 12, 12), "mpid": "NITE", "total_volume": 2700108, "total_trades": 10753, "market_share_pct": Decimal("31.2513")},
    {"week_ending": date(2025, 12, 12), "mpid": "UBSS", "total_volume": 1140000, "total_trades": 4714, "market_share_pct": Decimal("13.1944")},
    {"week_ending": date(2025, 12, 12), "mpid": "VIRT", "total_volume": 2060000, "total_trades": 8267, "market_share_pct": Decimal("23.8426")},
    {"week_ending": date(2025, 12, 19), "mpid": "CDEL", "total_volume": 2350000, "total_trades": 9418, "market_share_pct": Decimal("27.1050")},
    {"week_ending": date(2025, 12, 19), "mpid": "NITE", "total_volume": 2600000, "total_trades": 10316, "market_share_pct": Decimal("29.9885")},
    {"week_ending": date(2025, 12, 19), "mpid": "UBSS", "total_volume": 900000, "total_trades": 3626, "market_share_pct": Decimal("10.3806")},
    {"week_ending": date(2025, 12, 19), "mpid": "VIRT", "total_volume": 2820000, "total_trades": 11244, "market_share_pct": Decimal("32.5260")},
    {"week_ending": date(2025, 12, 26), "mpid": "CDEL", "total_volume": 2759961, "total_trades": 11093, "market_share_pct": Decimal("31.3528")},
    {"week_ending": date(2025, 12, 26), "mpid": "NITE", "total_volume": 2229500, "total_trades": 10900, "market_share_pct": Decimal("25.3268")},
    {"week_ending": date(2025, 12, 26), "mpid": "UBSS", "total_volume": 1160120, "total_trades": 6271, "market_share_pct": Decimal("13.1788")},
    {"week_ending": date(2025, 12, 26), "mpid": "VIRT", "total_volume": 2653339, "total_trades": 10480, "market_share_pct": Decimal("30.1416")},
]

ROLLING_2025_12_26 = [
    {"symbol": "AAPL", "avg_6w_volume": 2132300, "avg_6w_trades": 8398, "trend_direction": "UP", "trend_pct": Decimal("12.35"), "weeks_in_window": 6, "is_complete_window": True},
    {"symbol": "AMD", "avg_6w_volume": 793333, "avg_6w_trades": 3228, "trend_direction": "DOWN", "trend_pct": Decimal("-22.22"), "weeks_in_window": 6, "is_complete_window": True},
    {"symbol": "MSFT", "avg_6w_volume": 1153125, "avg_6w_trades": 5251, "trend_direction": "DOWN", "trend_pct": Decimal("-7.13"), "weeks_in_window": 6, "is_complete_window": True},
    {"symbol": "NVDA", "avg_6w_volume": 3041875, "avg_6w_trades": 12185, "trend_direction": "FLAT", "trend_pct": Decimal("3.33"), "weeks_in_window": 6, "is_complete_window": True},
    {"symbol": "TSLA", "avg_6w_volume": 1535020, "avg_6w_trades": 6496, "trend_direction": "FLAT", "trend_pct": Decimal("5.00"), "weeks_in_window": 6, "is_complete_window": True},
]

SNAPSHOT_2025_12_26 = [
    {
        "symbol": "AAPL", "total_volume": 2293800, "total_trades": 9100, "venue_count": 3, "avg_trade_size": Decimal("252.07"),
        "top_venue_mpid": "NITE", "top_venue_share_pct": Decimal("43.6176"),
        "rolling_avg_6w_volume": 2132300, "rolling_avg_6w_trades": 8398, "rolling_trend_direction": "UP",
        "rolling_weeks_available": 6, "rolling_is_complete": True, "has_rolling_data": True, "quality_status": "PASS",
    },
    {
        "symbol": "AMD", "total_volume": 680000, "total_trades": 2739, "venue_count": 2, "avg_trade_size": Decimal("248.27"),
        "top_venue_mpid": "CDEL", "top_venue_share_pct": Decimal("58.8235"),
        "rolling_avg_6w_volume": 793333, "rolling_avg_6w_trades": 3228, "rolling_trend_direction": "DOWN",
        "rolling_weeks_available": 6, "rolling_is_complete": True, "has_rolling_data": True, "quality_status": "PASS",
    },
    {
        "symbol": "MSFT", "total_volume": 1129000, "total_trades": 8000, "venue_count": 2, "avg_trade_size": Decimal("141.13"),
        "top_venue_mpid": "NITE", "top_venue_share_pct": Decimal("55.7130"),
        "rolling_avg_6w_volume": 1153125, "rolling_avg_6w_trades": 5251, "rolling_trend_direction": "DOWN",
        "rolling_weeks_available": 6, "rolling_is_complete": True, "has_rolling_data": True, "quality_status": "PASS",
    },
    {
        "symbol": "NVDA", "total_volume": 3120000, "total_trades": 12485, "venue_count": 2, "avg_trade_size": Decimal("249.90"),
        "top_venue_mpid": "VIRT", "top_venue_share_pct": Decimal("50.0013"),
        "rolling_avg_6w_volume": 3041875, "rolling_avg_6w_trades": 12185, "rolling_trend_direction": "FLAT",
        "rolling_weeks_available": 6, "rolling_is_complete": True, "has_rolling_data": True, "quality_status": "PASS",
    },
    {
        "symbol": "TSLA", "total_volume": 1580120, "total_trades": 6420, "venue_count": 3, "avg_trade_size": Decimal("246.12"),
        "top_venue_mpid": "NITE", "top_venue_share_pct": Decimal("37.9718"),
        "rolling_avg_6w_volume": 1535020, "rolling_avg_6w_trades": 6496, "rolling_trend_direction": "FLAT",
        "rolling_weeks_available": 6, "rolling_is_complete": True, "has_rolling_data": True, "quality_status": "PASS",
    },
]
