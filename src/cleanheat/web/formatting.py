"""Display formatting for the pages: the Jinja filters are the functions of :mod:`cleanheat.units` (one source,
shared with reports and the CLI)."""

from __future__ import annotations

from cleanheat.units import local_time, num, pct, share_pct, wan_m2

__all__ = ["local_time", "num", "pct", "share_pct", "wan_m2"]
