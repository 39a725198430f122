"""Server-side paging and text search of lists (the audit log, alarms, quarterly reports, the heat-source
registry): one page of a query's rows and how many match in all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

#: rows per page of a listed page (enough for a screen, small enough that no page grows to thousands of pixels)
PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, how many match in all, the page number (from 1) and the page size."""

    rows: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The position of the first row shown (from 1)."""
        return (self.page - 1) * self.per_page + 1


def page_of(session: Session, q: Select, *order_by, page: int = 1, per_page: int = PAGE_SIZE) -> Page:
    """Page ``page`` of the rows of ``q`` (ORM entities) in the order ``order_by``, and the count of all."""
    total = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    rows = session.scalars(q.order_by(*order_by).offset((page - 1) * per_page).limit(per_page)).unique()
    return Page(list(rows), total, page, per_page)


def like_pattern(text: str) -> str:
    """A LIKE pattern for rows containing ``text`` (``%``, ``_`` and ``\\`` taken literally; escape ``\\``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contains_text(text: str, *columns):
    """A condition: any of ``columns`` contains ``text`` (case-insensitive for ASCII letters)."""
    pattern = like_pattern(text)
    return or_(*(col.ilike(pattern, escape="\\") for col in columns))
