"""Bounded numeric request parameters (path and query). An unbounded ``int`` lets ``?id=10**30`` reach the
database driver ("Python int too large") as an HTTP 500; these types answer 422 instead."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

#: The largest database id (a 64-bit signed integer, SQLite INTEGER and PostgreSQL BIGINT).
MAX_ID = 2**63 - 1

#: A database id.
Id = Annotated[int, Ge(1), Le(MAX_ID)]
#: How many rows a list returns.
Limit = Annotated[int, Ge(1), Le(100_000)]
#: How many rows a list skips.
Offset = Annotated[int, Ge(0), Le(10**12)]
#: A page number of a paged list (pages are at most a few hundred rows).
PageNo = Annotated[int, Ge(1), Le(10**9)]
#: Milliseconds since 1970-01-01 UTC, within the years -285616..+287586 that fit a signed 64-bit millisecond
#: count and a datetime (the JavaScript date range, ±8.64e15 ms, is used).
EpochMs = Annotated[int, Ge(-8_640_000_000_000_000), Le(8_640_000_000_000_000)]
