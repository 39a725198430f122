"""Units and display formatting: the one place for unit constants and for SI values shown in display units.

Inside the code everything is SI (areas in m², heat in GJ or J, power in W); display units (万m², 亿元, %, local
time) are applied only at the edges — pages, reports, exports, the CLI — through the functions here. Conversions
that are conventions rather than definitions (1 蒸吨 ≈ 0.7 MW) are data (``data/<city>/conversions.yaml``, read by
:func:`cleanheat.assets.heat_sources.mw_per_t_h`), never constants.

This module imports nothing from the areas, so every area may use it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from cleanheat.timeutil import PROGRAMME_TZ

#: 1 万m² [m²]
M2_PER_WAN = 10_000
#: 1 亿元 [yuan]
YUAN_PER_YI = 100_000_000
#: 1 GJ [J]
J_PER_GJ = 1e9
#: 1 h [s]
S_PER_H = 3600.0


def wan_m2(area_m2: float | Decimal | None, digits: int = 1) -> str:
    """Area [m²] shown in 万m² with ``digits`` decimals ("–" for None)."""
    if area_m2 is None:
        return "–"
    return f"{float(area_m2) / M2_PER_WAN:,.{digits}f}"


def pct(fraction: float | None, digits: int = 1) -> str:
    """A fraction [0..1] shown as a percentage [%] rounded to ``digits`` decimals ("–" for None)."""
    if fraction is None:
        return "–"
    return f"{fraction * 100:.{digits}f}%"


def share_pct(fraction: float | None, digits: int = 1) -> str:
    """A share [0..1] as a percentage [%] truncated (not rounded) to ``digits`` decimals: a share below a
    threshold never prints as the threshold (0.94996 -> "94.9%", never "95.0%")."""
    if fraction is None:
        return "–"
    q = (Decimal(repr(float(fraction))) * 100).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR)
    return f"{q}%"


def num(value: float | Decimal | None, digits: int = 1) -> str:
    """A number [any unit] with thousands separators and ``digits`` decimals ("–" for None)."""
    if value is None:
        return "–"
    return f"{float(value):,.{digits}f}"


def local_time(value: datetime | None, tz: str = PROGRAMME_TZ, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware datetime shown in the time zone ``tz`` [IANA name] ("–" for None)."""
    if value is None:
        return "–"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)
