"""The programme ledger: the plan as data (baseline, targets, tasks), quarterly progress reports, indicators,
evaluation and the published reports."""
