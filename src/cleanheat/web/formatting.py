"""Display formatting: SI values in, display units out (万m², %, local time)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
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


def share_pct(fraction: float | None, digits: int = 1) -> str:
    """A share as a percentage truncated (not rounded) to ``digits`` decimals: a share below a threshold never
    prints as the threshold (0.94996 -> "94.9%", never "95.0%")."""
    if fraction is None:
        return "–"
    q = (Decimal(repr(float(fraction))) * 100).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR)
    return f"{q}%"


def num(value: float | Decimal | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{float(value):,.{digits}f}"


def local_time(value: datetime | None, tz: str = "Asia/Shanghai", fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "–"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)
