"""Pages a participant opens or pastes: one self-contained HTML file per run or per set of runs, and the pieces
they are made of (escaped HTML, inline SVG plots, inline images, the panels a variant contributes).

This layer renders; it computes no statistic. Every number on a page comes from `evaluation` (the same code that
`memo score`, `compare` and `leaderboard` print) or from a run's own files. It sits above `evaluation` and below
`models`, so a variant may hand it panels (`report.panels`) and it knows no variant, model or runner: the per-run
assembly that asks a variant lives in `experiments.report`.
"""
