"""Local dates: the programme's calendar is Harbin's (Asia/Shanghai), whatever the server's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PROGRAMME_TZ = "Asia/Shanghai"


def local_today(tz: str = PROGRAMME_TZ) -> date:
    """Today's date in ``tz`` (default Asia/Shanghai)."""
    return datetime.now(ZoneInfo(tz)).date()
