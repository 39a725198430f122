"""Area files (CSV/XLSX) are read all-or-nothing with located errors; the synthetic Harbin set matches the plan."""

from __future__ import annotations

import io

import numpy as np
import pytest

from cleanheat.config import REPO_ROOT
from cleanheat.planner.areas import read_areas, write_areas_csv
from cleanheat.planner.engine import synthetic_areas
from cleanheat.planner.errors import AreaDataError
from cleanheat.planner.synthetic import COMMENT, SEED, synthetic_harbin

GOOD = ("code,name,unit_code,area_type,households,area_m2_res_1996,area_m2_public,current_heating,"
        "network_distance_km,gas_available,gas_capacity_1e4_m3,grid_zone,grid_spare_mw,resources,lon,lat\n"
        "t1,甲,daoli,城市城区,1000,60000,10000,coal_boiler_legacy:0.7; chp_network:0.3,"
        "0.5,是,,z1,5,waste_heat,126.6,45.7\n"
        "t2,乙,binxian,rural,300,20000,,loose_coal,12,no,3.5,,1.2,,,\n")


def test_read_csv(inputs, tmp_path):
    p = tmp_path / "areas.csv"
    p.write_text(GOOD, encoding="utf-8")
    a = read_areas(p, inputs.catalogue)
    assert a.codes == ("t1", "t2") and list(a.area_types) == ["urban", "rural"]
    assert a.heated_area_m2.tolist() == [70000, 20000]
    assert a.current_mix[0, inputs.catalogue.index("chp_network")] == pytest.approx(0.3)
    assert a.grid_zones == ("z1", "t2") and a.gas_available.tolist() == [True, False]
    assert np.isnan(a.gas_capacity_1e4_m3[0]) and a.gas_capacity_1e4_m3[1] == 3.5
    assert a.resources[0] == frozenset({"waste_heat"})
    assert not a.synthetic


def test_read_xlsx(inputs):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "areas"
    for line in GOOD.splitlines():
        ws.append([None if v == "" else v for v in line.split(",")])
    buf = io.BytesIO()
    wb.save(buf)
    a = read_areas("upload.xlsx", inputs.catalogue, data=buf.getvalue())
    assert len(a) == 2 and a.households.tolist() == [1000, 300]


def test_missing_area_field_is_reported_with_location(inputs):
    text = GOOD.replace("households,", "").replace(",1000,", ",").replace(",300,", ",")
    with pytest.raises(AreaDataError) as e:
        read_areas("a.csv", inputs.catalogue, data=text.encode())
    (i,) = e.value.issues
    assert i.file == "a.csv" and i.column == "households" and "缺少必需列 households" in i.message


def test_missing_and_bad_values_are_reported_with_row_and_column(inputs):
    text = GOOD.replace(",1000,60000", ",,60000").replace("loose_coal,12,no", "coal_stove,-12,maybe")
    with pytest.raises(AreaDataError) as e:
        read_areas("a.csv", inputs.catalogue, data=text.encode())
    found = {(i.row, i.column): i.message for i in e.value.issues}
    assert found[(2, "households")] == "缺少数值"
    assert "未知取暖方式 'coal_stove'" in found[(3, "current_heating")]
    assert "非负数" in found[(3, "network_distance_km")]
    assert (3, "gas_available") in found
    assert "nothing was imported" in e.value.summary


def test_shares_must_sum_to_one_and_codes_be_unique(inputs):
    text = GOOD.replace("coal_boiler_legacy:0.7", "coal_boiler_legacy:0.5").replace("\nt2,", "\nt1,")
    with pytest.raises(AreaDataError) as e:
        read_areas("a.csv", inputs.catalogue, data=text.encode())
    msgs = {(i.row, i.column): i.message for i in e.value.issues}
    assert "份额合计为 0.8000" in msgs[(2, "current_heating")]
    assert "重复" in msgs[(3, "code")]


def test_synthetic_set_matches_the_2018_baseline(inputs):
    a = synthetic_areas(inputs)
    assert a.synthetic and len(a) == 414
    clean = np.array([o.clean for o in inputs.catalogue.options])
    for at in ("urban", "county_fringe", "rural"):
        m = a.area_types == at
        base = inputs.plan.baseline(at)
        assert a.heated_area_m2[m].sum() == pytest.approx(base.heated_area_m2, abs=1)
        assert (a.heated_area_m2[m] * (a.current_mix[m] @ clean)).sum() == pytest.approx(base.clean_area_m2, abs=1)


def test_shipped_synthetic_file_is_the_reproducible_generator_output(inputs):
    regenerated = write_areas_csv(synthetic_harbin(inputs.plan, inputs.catalogue, seed=SEED), inputs.catalogue,
                                  COMMENT.format(seed=SEED))
    shipped = (REPO_ROOT / "data" / "planner" / "harbin_areas_synthetic.csv").read_text(encoding="utf-8")
    assert shipped == regenerated
    assert shipped.startswith("# SYNTHETIC 合成数据")


def test_round_trip_through_rows(inputs, tmp_path):
    from cleanheat.planner.areas import areas_from_rows

    a = synthetic_areas(inputs)
    b = areas_from_rows(a.to_rows(), inputs.catalogue, name="x", source="x", synthetic=True)
    np.testing.assert_allclose(b.area_by_class_m2, a.area_by_class_m2)
    np.testing.assert_allclose(b.current_mix, a.current_mix, atol=1e-9)
