"""Heat demand and heat-pump COP from Harbin's hourly weather."""

from __future__ import annotations

import numpy as np
import pytest

from cleanheat.planner.catalogue import CopCurve, Quantity
from cleanheat.planner.demand import season_days, season_mask


def test_harbin_season_from_the_weather_file(inputs):
    c = inputs.climate
    assert c.season_hours == 183 * 24  # 20 Oct – 20 Apr (climate.yaml)
    assert season_days((10, 20), (4, 20)) == 183
    assert -12 < c.mean_temp_c < -7  # GB 50736: −9.4 °C over the ≤ 5 °C period
    # DOMAIN §5.5: 50 W/m² needs ≈ 0.49 GJ/m² a season (176 days at −9.4 °C); the typical year gives 0.50
    assert 50 * c.heat_gj_per_w_m2 == pytest.approx(0.49, abs=0.03)


def test_ashp_cop_follows_the_hourly_temperature(inputs):
    c = inputs.climate
    curve = inputs.catalogue.option("ashp").cop_curve
    scop = c.seasonal_cop(curve)
    # load-weighted: lower than the COP at the season's mean temperature (cold hours weigh more)
    assert scop < float(curve.cop(c.mean_temp_c))
    assert 1.8 < scop < 2.4  # DOMAIN §6.4: ASHP SCOP in Harbin ~2
    assert c.design_cop(curve) == pytest.approx(1.59, abs=0.01)  # at −24.2 °C
    colder = CopCurve(curve.temps_c, curve.cops, Quantity(0.8, 0.8, 0.8, "D", "t"), "D", "t")
    assert c.seasonal_cop(colder) < scop


def test_cop_curve_is_never_below_one():
    curve = CopCurve((-30.0, 0.0), (1.2, 3.0), Quantity(0.5, 0.5, 0.5, "D", "t"), "D", "t")
    assert curve.cop(np.array([-40.0]))[0] == 1.0  # the backup heater takes over


def test_season_mask_wraps_the_new_year():
    months = np.array([10, 10, 12, 1, 4, 4, 7])
    days = np.array([19, 20, 31, 1, 20, 21, 1])
    assert season_mask(months, days, (10, 20), (4, 20)).tolist() == [False, True, True, True, True, False, False]
