from datetime import datetime

import numpy as np
import pytest

from cleanheat.config import Settings
from cleanheat.errors import InputError
from cleanheat.weather.epw import harbin_epw_path, read_epw


def test_harbin_epw_reads_a_cold_typical_year():
    w = read_epw(harbin_epw_path(Settings().data_dir))
    assert w.hours == 8760
    assert w.latitude_deg == pytest.approx(45.75) and w.utc_offset_h == 8
    # First row: 1 Jan, hour 1 local = 00:00-01:00 local = 16:00 UTC on 31 Dec; -21.2 °C in the file.
    assert w.time_utc[0] == np.datetime64(datetime(2000, 12, 31, 16, 0))
    assert w.dry_bulb_c[0] == pytest.approx(-21.2)
    # Harbin: January mean well below -15 °C, July mean above 20 °C.
    assert w.dry_bulb_c[: 31 * 24].mean() < -15
    assert w.dry_bulb_c[181 * 24: 212 * 24].mean() > 20
    days = w.daily_mean_c()
    assert 150 <= (days <= 5).sum() <= 200  # GB 50736 gives 176 days at or below +5 °C
    assert 0.5 in w.ground_temp_c and len(w.ground_temp_c[0.5]) == 12


def test_bad_epw_names_the_row(tmp_path):
    src = harbin_epw_path(Settings().data_dir).read_text(encoding="latin-1").splitlines()
    src[8 + 99] = src[8 + 99].replace(",-", ",x", 1)
    bad = tmp_path / "bad.epw"
    bad.write_text("\n".join(src), encoding="latin-1")
    with pytest.raises(InputError) as exc:
        read_epw(bad)
    assert exc.value.issues[0].row == 108
