"""otc-backfill: FINRA weekly OTC transparency files to Parquet tables."""
