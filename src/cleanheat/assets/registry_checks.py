"""Registry warnings: what a registered heat source says that the plan does not allow.

* **New or expanded coal sources must be ultra-low** (plan §二(二)1 新建、扩建热源达到超低排放; §三(一)1
  新建热电联产背压机组和热水锅炉均须达到超低排放标准). A coal source is *new* when it is registered as a new
  boiler (vintage ``new``), was commissioned in or after the programme's first year, or has an ``expanded``
  event; it is warned about when it is not ultra-low (registered so, or retrofitted) at its newest event.

Warnings do not stop a registration (the registry records what exists); they are listed on the source's page,
on the registry page and by the API. Pure apart from :func:`registry_warnings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cleanheat.assets.tables import HeatSource

#: The programme's first year (plan 2019-2021): a source commissioned since then is a new source.
PROGRAMME_START = date(2019, 1, 1)
CLAUSE = "§二(二)1, §三(一)1"


@dataclass(frozen=True)
class RegistryWarning:
    code: str  # the heat source's code
    kind: str  # new_not_ultra_low
    message_zh: str
    message_en: str
    clause: str = CLAUSE


def _why_new(src: HeatSource, programme_start: date) -> tuple[str, str] | None:
    expanded = [e.effective_date for e in src.events if e.event == "expanded"]
    if expanded:
        return f"{max(expanded)} 扩建", f"expanded on {max(expanded)}"
    commissioned = [e.effective_date for e in src.events if e.event == "commissioned"]
    if commissioned and min(commissioned) >= programme_start:
        return f"{min(commissioned)} 新建投运", f"commissioned on {min(commissioned)}"
    if src.commissioned_year is not None and src.commissioned_year >= programme_start.year:
        return f"{src.commissioned_year} 年新建", f"built in {src.commissioned_year}"
    if src.vintage == "new":
        return "登记为新建锅炉", "registered as a new boiler"
    return None


def source_warnings(src: HeatSource, programme_start: date = PROGRAMME_START) -> list[RegistryWarning]:
    """The warnings on one source (its events loaded)."""
    out = []
    burns_coal = src.fuel == "coal" and src.current_fuel == "coal"
    if burns_coal and src.status not in ("demolished", "connected_network") and src.emission_class != "ultra_low":
        why = _why_new(src, programme_start)
        if why is not None:
            out.append(RegistryWarning(
                src.code, "new_not_ultra_low",
                f"新建、扩建燃煤热源须达到超低排放：{src.name_zh}（{why[0]}）未登记为超低排放",
                f"New or expanded coal sources must be ultra-low: {src.code} ({why[1]}) "
                "is not registered as ultra-low"))
    return out


def registry_warnings(session: Session, sources_query=None) -> list[RegistryWarning]:
    """Warnings on every source of ``sources_query`` (a select of HeatSource, already scoped; default: all)."""
    q = sources_query if sources_query is not None else select(HeatSource)
    q = q.where(HeatSource.fuel == "coal", HeatSource.emission_class != "ultra_low").options(
        selectinload(HeatSource.events)).order_by(HeatSource.code)
    out: list[RegistryWarning] = []
    for src in session.scalars(q):
        out.extend(source_warnings(src))
    return out
