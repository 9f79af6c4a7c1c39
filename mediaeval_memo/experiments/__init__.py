"""Experiments over the registered variants: the runner that owns every id (cross-validation, the final model,
resume, each fit's context), grids of settings, zero-shot prediction, and the error analysis beside each run."""
