"""The programme's clock: its calendar is Harbin's (Asia/Shanghai), whatever the server's time zone.

The one source of the local time zone. China has kept UTC+8 without daylight saving since 1991, so the fixed
offset :data:`CHINA_TZ` equals Asia/Shanghai for every date the system handles; the IANA name
:data:`PROGRAMME_TZ` is used where a zone name is wanted (display, ``zoneinfo``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

#: the programme's time zone (IANA name)
PROGRAMME_TZ = "Asia/Shanghai"
#: its offset from UTC [h]
PROGRAMME_UTC_OFFSET_H = 8
#: its offset from UTC
PROGRAMME_UTC_OFFSET = timedelta(hours=PROGRAMME_UTC_OFFSET_H)
#: Beijing time as a fixed-offset tzinfo (HJ 212 times, local days of readings and rollups)
CHINA_TZ = timezone(PROGRAMME_UTC_OFFSET, PROGRAMME_TZ)


def local_today(tz: str = PROGRAMME_TZ) -> date:
    """Today's date in ``tz`` [IANA name] (default Asia/Shanghai)."""
    return datetime.now(ZoneInfo(tz)).date()
