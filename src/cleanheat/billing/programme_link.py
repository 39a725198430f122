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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cleanheat.auth.service import Actor
from cleanheat.billing.tables import BillingRun

TASK = "public_building_metered_share"


def _season_ended_by(period_end: date) -> str:
    """The label of the newest heating season (the configured city's ``climate.yaml``) whose last day is on or
    before ``period_end``."""
    from cleanheat.climate import read_heating_season
    from cleanheat.config import Settings

    season = read_heating_season(Settings().city_dir)
    for year in range(period_end.year, period_end.year - 3, -1):
        first, last = season.season_starting(year)
        if last <= period_end:
            return f"{first.year}-{last.year}"
    return f"{period_end.year - 3}-{period_end.year - 2}"


def stamp(session: Session) -> tuple:
    """Changes whenever a run is approved (part of the evaluation's cache key)."""
    return tuple(session.execute(select(func.count(), func.max(BillingRun.approved_at))
                                 .where(BillingRun.state == "approved")).one())


def task_values(session: Session, period_end: date) -> dict[str, float] | None:
    """{task code: value} counted from billing for a period ending on ``period_end``; None when billing has no
    approved settlement of that season or no public-building account (the reports count then)."""
    from cleanheat.billing.views import metering_by_unit

    season = _season_ended_by(period_end)
    if session.scalar(select(BillingRun.id).where(BillingRun.season == season, BillingRun.kind == "settlement",
                                                  BillingRun.state == "approved").limit(1)) is None:
        return None
    rows = metering_by_unit(session, Actor.system("programme"), season)
    public = sum(r.public_buildings for r in rows)
    if not public:
        return None
    return {TASK: sum(r.settled_public_buildings for r in rows) / public}



