"""Training catalogue and mandatory-training compliance."""
