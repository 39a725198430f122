"""Display formatting: SI values in, display units out (万m², %, local time)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

M2_PER_WAN = 10_000


def wan_m2(area_m2: float | Decimal | None, digits: int = 1) -> str:
    """Area [m²] shown in 万m²."""
    if area_m2 is None:
        return "–"
    return f"{float(area_m2) / M2_PER_WAN:,.{digits}f}"


def pct(fraction: float | None, digits: int = 1) -> str:
    if fraction is None:
        return "–"
    return f"{fraction * 100:.{digits}f}%"


def num(value: float | Decimal | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{float(value):,.{digits}f}"


def local_time(value: datetime | None, tz: str = "Asia/Shanghai", fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "–"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)
