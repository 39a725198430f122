"""One reader of climate.yaml and one heating-season type for every area (issue 14, item 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

from cleanheat.climate import HeatingSeason, read_climate
from cleanheat.config import Settings
from cleanheat.emissions.compliance import SeasonDates
from cleanheat.planner.demand import read_climate_yaml, season_mask
from cleanheat.telemetry.season import Season, read_season
from cleanheat.timeutil import CHINA_TZ, PROGRAMME_UTC_OFFSET_H


def test_harbin_climate_from_data() -> None:
    c = read_climate(Settings().city_dir)
    assert c.season == HeatingSeason(10, 20, 4, 20)  # 《哈尔滨市城市供热办法》: 20 Oct – 20 Apr
    assert (c.outdoor_design_c, c.indoor_design_c, c.statutory_min_room_c) == (-24.2, 18.0, 18.0)
    assert c.weather_file is not None and c.weather_file.exists()


def test_every_area_agrees_on_the_heated_days() -> None:
    city = Settings().city_dir
    season = read_climate(city).season
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(365)]
    expected = [(d.month, d.day) >= (10, 20) or (d.month, d.day) <= (4, 20) for d in days]  # both ends heated
    assert [season.heating(d.month, d.day) for d in days] == expected
    months, mdays = np.array([d.month for d in days]), np.array([d.day for d in days])
    assert season.mask(months, mdays).tolist() == expected  # network bins
    cfg = read_climate_yaml(city / "climate.yaml")
    assert season_mask(months, mdays, cfg["season_start"], cfg["season_end"]).tolist() == expected  # planner
    tele = read_season(city)  # telemetry alarms, the demo city
    noon = [int(datetime(d.year, d.month, d.day, 12, tzinfo=CHINA_TZ).timestamp() * 1000) for d in days]
    assert [tele.heating_at(ms) for ms in noon] == expected
    assert SeasonDates is HeatingSeason  # emissions evidence windows use the same type
    heated = {d for lo, hi in season.heating_days(days[0], days[-1]) for d in _span(lo, hi)}
    assert [d in heated for d in days] == expected


def test_local_midnight_decides_the_day() -> None:
    tele = Season(HeatingSeason(10, 20, 4, 20))
    first = datetime(2021, 10, 20, tzinfo=CHINA_TZ)  # 2021-10-19 16:00 UTC
    assert first.astimezone(UTC).day == 19 and PROGRAMME_UTC_OFFSET_H == 8
    assert tele.heating_at(int(first.timestamp() * 1000))
    assert not tele.heating_at(int(first.timestamp() * 1000) - 1)


def test_without_a_season_every_day_is_heated() -> None:
    assert Season().heating(7, 1)


def _span(lo: date, hi: date) -> list[date]:
    return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
