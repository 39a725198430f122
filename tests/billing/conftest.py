"""A small heat company to bill: eight accounts of every kind, reads, a 报停 application (tests of the service,
the CLI and the pages)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

import pytest

from cleanheat.assets.tables import Building, Household
from cleanheat.auth.roles import OrgKind, Role
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.billing import service as svc
from cleanheat.timeutil import CHINA_TZ

SEASON = "2020-2021"
START = datetime(2020, 10, 20, tzinfo=CHINA_TZ)
END = datetime(2021, 4, 21, tzinfo=CHINA_TZ)
MONTHS = [datetime(y, m, 1, tzinfo=CHINA_TZ) for y, m in ((2020, 11), (2020, 12), (2021, 1), (2021, 2),
                                                            (2021, 3), (2021, 4))]


def _reads(total_kwh: D, until: datetime = END) -> list[tuple[datetime, D]]:
    """A register from 1000 kWh rising evenly by ``total_kwh`` over the season, read at the start, on the first of
    each month and at the end, up to ``until``."""
    times = [START, *MONTHS, END]
    span = (END - START).total_seconds()
    return [(t, (D(1000) + total_kwh * D((t - START).total_seconds()) / D(span)).quantize(D("0.001")))
            for t in times if t <= until]


@pytest.fixture
def city(session_factory):
    with session_factory() as s:
        org = Organisation(code="HC1", name_zh="一号热力", kind=OrgKind.HEAT_COMPANY)
        other = Organisation(code="HC2", name_zh="二号热力", kind=OrgKind.HEAT_COMPANY)
        s.add_all([org, other])
        s.flush()
        b = Building(code="B1", name_zh="一号楼", org_id=org.id, admin_unit_code="daoli", area_m2=5000)
        pb = Building(code="PB1", name_zh="区政府", org_id=org.id, admin_unit_code="daoli", area_m2=3000)
        s.add_all([b, pb])
        s.flush()
        hh = {}
        for i in range(1, 9):
            hh[i] = Household(code=f"H{i}", org_id=org.id, building_id=b.id, area_m2=80, account_no=f"ACC{i}",
                              floor=3)
        s.add_all(hh.values())
        s.flush()
        actor = Actor("hc1", Role.HEAT_COMPANY, org_id=org.id, org_kind=OrgKind.HEAT_COMPANY, org_code="HC1")
        mk = dict(building_id=b.id)
        acc = {
            1: svc.open_account(s, actor, household_id=hh[1].id, account_no="A1", customer_class="ordinary_dwelling",
                                billing_mode="metered", area_m2=D("80"), meter_no="M1", **mk),
            2: svc.open_account(s, actor, household_id=hh[2].id, account_no="A2",
                                customer_class="energy_saving_dwelling", billing_mode="metered", area_m2=D("100"),
                                meter_no="M2", **mk),
            3: svc.open_account(s, actor, household_id=hh[3].id, account_no="A3", customer_class="ordinary_dwelling",
                                billing_mode="area", area_m2=D("60.5"), **mk),
            4: svc.open_account(s, actor, household_id=hh[4].id, account_no="A4", customer_class="ordinary_dwelling",
                                billing_mode="metered", area_m2=D("90"), meter_no="M4", **mk),
            5: svc.open_account(s, actor, household_id=hh[5].id, account_no="A5", customer_class="ordinary_dwelling",
                                billing_mode="area", area_m2=D("50"), **mk),
            6: svc.open_account(s, actor, household_id=hh[6].id, account_no="A6", customer_class="ordinary_dwelling",
                                billing_mode="area", area_m2=D("70"), connected_from=date(2021, 1, 1), **mk),
            7: svc.open_account(s, actor, account_no="PB1", customer_class="public_building", billing_mode="metered",
                                area_m2=D("3000"), meter_no="MPB", building_id=pb.id),
            8: svc.open_account(s, actor, household_id=hh[8].id, account_no="A8", customer_class="ordinary_dwelling",
                                billing_mode="metered", area_m2=D("75.25"), meter_no="M8", **mk),
        }
        reads = []
        for k, total, until in ((1, D(2500), END), (2, D(30000), END), (4, D(3000), MONTHS[-2])):
            reads += [svc.ReadIn(acc[k].id, t, e) for t, e in _reads(total, until)]
        # A2's register dips once in January (a one-reading rollback: reported, bridged, the bill unchanged)
        reads.append(svc.ReadIn(acc[2].id, datetime(2021, 1, 15, tzinfo=CHINA_TZ), D("1000")))
        assert svc.record_reads(s, actor, reads) == len(reads)
        assert svc.record_reads(s, actor, reads[:3]) == 0  # idempotent
        svc.apply_stop_heating(s, actor, acc[5].id, SEASON, date(2020, 9, 25))
        s.commit()
        return {"actor": actor, "acc": {k: a.id for k, a in acc.items()}, "org": org.id, "building": b.id,
                "households": {k: h.id for k, h in hh.items()}}


