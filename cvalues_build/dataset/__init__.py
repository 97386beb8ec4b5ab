"""Building the dataset: sources -> records -> validated pairs -> multi-choice items -> Parquet
with a card, and publishing it."""
