"""Release readers, the canonical item table, folds and the embedded sample."""
