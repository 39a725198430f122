"""The twin's physics against DOMAIN.md §5.5 (computed there with Python from the textbook formulas)."""

from datetime import UTC, datetime

import numpy as np
import pytest

from cleanheat.config import Settings
from cleanheat.twin import model
from cleanheat.twin.city import CityConfig, make_city
from cleanheat.twin.sim import CitySim, Fault
from cleanheat.weather.epw import harbin_epw_path, read_epw

# DOMAIN.md §5.5 "Computed Harbin curves [D]": t_w -> radiator 75/50 (b=0.3), floor 45/35 (b=0.1), primary AMTD
TABLE = [(5, 39.8, 32.1, 27.1, 24.0, 56.8, 38.3), (0, 46.4, 35.8, 30.3, 26.0, 69.9, 44.3),
         (-10, 58.8, 42.2, 36.5, 29.8, 95.2, 55.4), (-20, 70.3, 47.8, 42.5, 33.5, 119.8, 65.8),
         (-24.2, 75.0, 50.0, 45.0, 35.0, 130.0, 70.0)]


@pytest.mark.parametrize(("t_w", "rs", "rr", "fs", "fr", "ps", "pr"), TABLE)
def test_weather_compensation_matches_domain_table(t_w, rs, rr, fs, fr, ps, pr):
    sup, ret = model.quality_curve(t_w, supply_design_c=75, return_design_c=50, emitter_b=0.3)
    fsup, fret = model.quality_curve(t_w, supply_design_c=45, return_design_c=35, emitter_b=0.1)
    p1, p2 = model.primary_temperatures(model.relative_load(t_w), sup, ret, p_supply_design_c=130,
                                        p_return_design_c=70, s_supply_design_c=75, s_return_design_c=50)
    # the table is printed to 0.1 K: agree within half of that
    got = np.array([sup, ret, fsup, fret, p1, p2], dtype=float)
    np.testing.assert_allclose(got, [rs, rr, fs, fr, ps, pr], atol=0.05)


@pytest.mark.parametrize("t_w", [5.0, -10.0, -24.2])
def test_curve_and_emitter_law_are_consistent(t_w):
    """On its own design curve, without gains, a design building sits at exactly 18 °C (the curve inverts the
    emitter law), and the emitter then delivers the relative load Q̄ of the design power."""
    sup, ret = model.quality_curve(t_w, supply_design_c=75, return_design_c=50, emitter_b=0.3)
    tm = (sup + ret) / 2
    tr = model.room_temperature(t_w, tm, 1.0, emitter_b=0.3, t_mean_design_c=62.5, gains_k=0.0)
    assert float(tr) == pytest.approx(18.0, abs=1e-3)
    power = model.emitter_power_w(1000.0, tm, tr, 1.0, emitter_b=0.3, t_mean_design_c=62.5)
    assert float(power) == pytest.approx(1000.0 * float(model.relative_load(t_w)), rel=1e-3)


@pytest.fixture(scope="module")
def weather():
    return read_epw(harbin_epw_path(Settings().data_dir))


def test_seasonal_heat_per_m2_is_plausible(weather):
    """DOMAIN.md §5.5: 0.40-0.59 GJ/m² per season for 40-60 W/m² buildings; the demo stock spans 34-68 W/m²."""
    sim = CitySim(make_city(CityConfig(stations=3)), weather, anchor_ms=0)
    gj_m2 = sim._energy["hour_j"].sum(axis=0) / 1e9 / sim._b_area
    idx = np.array([b.heat_index_w_m2 for b in sim.spec.buildings])
    assert 0.25 < gj_m2.min() and gj_m2.max() < 0.8
    # more heat per m² for worse buildings
    assert np.corrcoef(idx, gj_m2)[0, 1] > 0.9


def test_replay_is_identical_and_faults_change_what_they_should(weather):
    a = int(datetime(2024, 1, 10, 16, tzinfo=UTC).timestamp() * 1000)
    spec = make_city(CityConfig(prefix="T", stations=2, buildings_per_station=2, households_per_building=2))
    h = 3_600_000
    faults = [Fault("stuck", "T-S01-C:s_supply_temp_c", a + h, a + 2 * h),
              Fault("lost_link", "T-S02-C", a + h, a + 2 * h),
              Fault("leak", "T-S01", a + h, None)]
    sim = CitySim(spec, weather, anchor_ms=a, faults=faults)
    window = sim.samples(a + h - 60_000, a + h + 30 * 60_000)
    assert window == CitySim(spec, weather, anchor_ms=a, faults=faults).samples(a + h - 60_000, a + h + 30 * 60_000)
    st1 = [v for c, _, v in window if c == "T-S01-C"]
    assert len({v["s_supply_temp_c"] for v in st1[1:]}) == 1  # frozen from the fault start
    assert len({v["p_supply_temp_c"] for v in st1}) > 1       # the other points still move
    assert not [1 for c, ts, _ in window if c == "T-S02-C" and ts >= a + h]  # silent
    assert st1[-1]["s_supply_pressure_kpa"] < st1[0]["s_supply_pressure_kpa"] - 100  # 4 kPa/min for 30 min
    registers = [v["heat_energy_gj"] for v in st1]
    assert registers == sorted(registers)
