"""What the programme's evaluation takes from billing data (loaded by ``cleanheat.programme.service`` only when the
billing area is installed: the programme never imports billing).

The plan's task ``public_building_metered_share`` (§三(三)2: by 2021 every eligible public building billed by
meter) is counted from billing, like the boiler tasks from the heat-source registry, once billing holds a settled
season: the share of public buildings (accounts of the public-building and commercial classes, each building once)
whose newest season ended by the evaluated period was settled by meter (a numbered settlement in metered mode).
The reported value stays beside it as a cross-check. See ``billing.views.metering_by_unit`` (per unit, on the
office's metering page) and docs/billing-pages.md §3.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cleanheat.auth.service import Actor
from cleanheat.billing.tables import BillingRun
from cleanheat.billing.tariffs import TariffNotFoundError, read_tariffs
from cleanheat.climate import read_heating_season

TASK = "public_building_metered_share"
#: the customer class of public buildings in the tariff table (data/<city>/tariffs.yaml)
PUBLIC_CLASS = "public_building"


def _season_ended_by(period_end: date, city_dir: Path) -> tuple[str, date]:
    """The label and first day of the newest heating season (the city's ``climate.yaml``) whose last day is on or
    before ``period_end``."""
    season = read_heating_season(city_dir)
    for year in range(period_end.year, period_end.year - 3, -1):
        first, last = season.season_starting(year)
        if last <= period_end:
            return f"{first.year}-{last.year}", first
    first, last = season.season_starting(period_end.year - 3)
    return f"{first.year}-{last.year}", first


def stamp(session: Session) -> tuple:
    """Changes whenever a run is approved (part of the evaluation's cache key)."""
    return tuple(session.execute(select(func.count(), func.max(BillingRun.approved_at))
                                 .where(BillingRun.state == "approved")).one())


def _public_tariff(city_dir: Path, on: date) -> bool:
    """Whether the city's tariffs price public buildings on ``on`` (without one, none can be billed by meter)."""
    try:
        read_tariffs(city_dir).select(PUBLIC_CLASS, on)
    except TariffNotFoundError:
        return False
    return True


def task_values(session: Session, period_end: date, city_dir: Path) -> dict[str, float] | None:
    """{task code: value} counted from billing for a period ending on ``period_end``; None when billing has no
    approved settlement of that season, no public-building account, or the city has no public-building tariff
    for the season (billing cannot say then whether they are billed by meter: the reports count)."""
    from cleanheat.billing.views import metering_by_unit

    season, first = _season_ended_by(period_end, city_dir)
    if not _public_tariff(city_dir, first):
        return None
    if session.scalar(select(BillingRun.id).where(BillingRun.season == season, BillingRun.kind == "settlement",
                                                  BillingRun.state == "approved").limit(1)) is None:
        return None
    rows = metering_by_unit(session, Actor.system("programme"), season, city_dir)
    public = sum(r.public_buildings for r in rows)
    if not public:
        return None
    return {TASK: sum(r.settled_public_buildings for r in rows) / public}



