"""The query string of a paged, filtered list page and its pager (``templates/_pager.html``), and the local
days of a time-range filter. The rows come from the area's service as a :class:`cleanheat.store.paging.Page`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from cleanheat.errors import InputError, InputIssue


def local_day(text: str, name: str, tz: str, add_days: int = 0) -> datetime | None:
    """The start of local day ``text`` (YYYY-MM-DD) in time zone ``tz`` (plus ``add_days``), None when empty;
    a clear error naming the field ``name`` otherwise."""
    if not text:
        return None
    try:
        d = date.fromisoformat(text) + timedelta(days=add_days)
    except ValueError:
        raise InputError("bad date", [InputIssue(f"日期应为 YYYY-MM-DD：{text[:20]}", field=name,
                                                 message_en=f"dates are YYYY-MM-DD: {text[:20]}")]) from None
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz))


def pager(page, query: dict[str, object], path: str, element_id: str) -> dict:
    """Template values of a paged list: the page's rows, total, page, pages, first, the active filters
    (``query``, empty values dropped) and ``qs(**changes)``, the query string with some values changed."""
    active = {k: v for k, v in query.items() if v not in (None, "")}
    return {"rows": page.rows, "total": page.total, "page": page.page, "pages": page.pages, "first": page.first,
            "query": active, "qs": lambda **kw: urlencode(active | kw), "pager_path": path,
            "pager_id": element_id}
