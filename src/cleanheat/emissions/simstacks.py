"""Stack models for the registered monitoring points (the simulator's and the demo's view of the store)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource
from cleanheat.auth.roles import OrgKind
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.emissions.hj212.passwords import hash_password
from cleanheat.emissions.limits import LimitTable
from cleanheat.emissions.rollup import point_context
from cleanheat.emissions.tables import MonitoringPoint
from cleanheat.emissions.traffic import StackModel
from cleanheat.store.base import utcnow

SIM_PREFIX = "SIM-"


def synthetic_password(mn: str) -> str | None:
    """The HJ 212 password of a simulated (``SIM`` + 21 digits) or demo (``0100DE`` + 18 digits) point, which
    follow a rule; None for any other point (only its hash is stored, so a real point cannot be simulated)."""
    if mn.startswith("SIM") and len(mn) == 24 and mn[3:].isdigit():
        return f"sim{int(mn[3:]):05d}"
    if mn.startswith("0100DE") and len(mn) == 24 and mn[6:].isdigit():
        return f"dm{int(mn[6:]):04d}"
    return None


def model_for(ctx_limits, mn: str, password: str, seed: int, exceedance_rate: float,
              share_of_limit: float = 0.6) -> StackModel:
    """A stack running at ``share_of_limit`` of its limits (exceedance episodes push it over)."""
    limit_set, ref_o2 = ctx_limits
    lim = (lambda p, d: limit_set.limit(p) or d) if limit_set else (lambda p, d: d)
    ref = ref_o2 if ref_o2 is not None else 9.0
    return StackModel(mn=mn, password=password, seed=seed, pm_zs=lim("a34013", 10) * share_of_limit,
                      so2_zs=lim("a21026", 35) * share_of_limit, nox_zs=lim("a21002", 50) * share_of_limit,
                      ref_o2_pct=ref, o2_pct=min(ref + 2.0, 18.0), exceedance_rate=exceedance_rate,
                      exceedance_factor=1.0 / share_of_limit * 1.25)


def stack_models(session: Session, n: int, *, table: LimitTable, mw_per_t_h_value: float, register: bool = False,
                 seed: int = 1,
                 exceedance_rate: float = 0.02, today: date | None = None) -> list[StackModel]:
    """Models of the first ``n`` active points (registering SIM-nnnn sources and points when asked); only
    simulated and demo points, whose passwords follow a rule (:func:`synthetic_password`), can be simulated."""
    points = list(session.scalars(select(MonitoringPoint).where(MonitoringPoint.active.is_(True))
                                  .order_by(MonitoringPoint.id).limit(n)))
    if register and len(points) < n:
        register_sim_points(session, n - len(points))
        points = list(session.scalars(select(MonitoringPoint).where(MonitoringPoint.active.is_(True))
                                      .order_by(MonitoringPoint.id).limit(n)))
    today = today or utcnow().date()
    out = []
    for p in points:
        password = synthetic_password(p.mn)
        if password is None:  # a real point: its password is not known here
            continue
        ctx = point_context(session, p, table, mw_per_t_h_value)
        out.append(model_for(ctx.limits_on(today), p.mn, password, seed + p.id, exceedance_rate))
    return out


def register_sim_points(session: Session, count: int, *, org_code: str | None = None) -> int:
    """Register ``count`` simulated coal boilers (SIM-nnnn) with points (MN SIM + 21 digits, PW sim + number)."""
    q = select(Organisation).where(Organisation.kind == OrgKind.HEAT_COMPANY.value)
    if org_code:
        q = q.where(Organisation.code == org_code)
    org = session.scalars(q.order_by(Organisation.id)).first()
    if org is None:
        raise LookupError("no heat company registered to own simulated sources")
    existing = {c for (c,) in session.execute(select(HeatSource.code).where(HeatSource.code.like(f"{SIM_PREFIX}%")))}
    made = 0
    i = 0
    while made < count:
        i += 1
        code = f"{SIM_PREFIX}{i:05d}"
        if code in existing:
            continue
        src = HeatSource(code=code, name_zh=f"模拟燃煤锅炉 {i}", org_id=org.id, admin_unit_code="daoli",
                         area_type="urban", kind="coal_boiler", fuel="coal", current_fuel="coal", capacity_t_h=40.0,
                         emission_class="ultra_low", vintage="existing", served_area_m2=200_000.0,
                         status="in_service", note="synthetic (simulator)")
        session.add(src)
        session.flush()
        mn = f"SIM{i:021d}"
        session.add(MonitoringPoint(mn=mn, password_hash=hash_password(synthetic_password(mn)), source_id=src.id,
                                    name_zh=f"模拟排放口 {i}", stack_no="1", note="synthetic (simulator)"))
        made += 1
    session.flush()
    audit(session, Actor.system("simulator"), "create", "emissions_point", "", {"count": count},
          summary=f"登记 {count} 个模拟监测点 / simulated points")
    return made
