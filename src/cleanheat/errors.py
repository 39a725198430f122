"""The root of every area's exception hierarchy.

::

    CleanheatError
    ├── NotFoundError            a record does not exist (or is not visible to the caller)   -> HTTP 404
    ├── PermissionDeniedError    the caller may not do this                                   -> HTTP 403
    ├── ConflictError            the write contradicts the stored state                       -> HTTP 409
    └── InputError               bad input; carries ``issues`` (each with where and what)     -> HTTP 422

Areas subclass these (e.g. ``programme.errors.ReportImportError(InputError)``) and chain causes with ``from``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class CleanheatError(Exception):
    """Base of all errors raised on purpose by cleanheat."""


class NotFoundError(CleanheatError):
    pass


class PermissionDeniedError(CleanheatError):
    pass


class ConflictError(CleanheatError):
    pass


@dataclass(frozen=True)
class InputIssue:
    """One problem in some input, with where it is (file, sheet, row, column, field, offset)."""

    message: str
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    field: str | None = None
    offset: int | None = None
    message_en: str | None = None

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.sheet:
            parts.append(f"工作表 {self.sheet}")
        if self.row is not None:
            parts.append(f"第 {self.row} 行")
        if self.column:
            parts.append(f"列 {self.column}")
        if self.field:
            parts.append(f"字段 {self.field}")
        if self.offset is not None:
            parts.append(f"偏移 {self.offset}")
        return " / ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        return f"{loc}: {self.message}" if loc else self.message

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None} | {"where": self.location()}


@dataclass
class InputError(CleanheatError):
    """Bad input. ``issues`` lists every problem found; nothing was written."""

    summary: str
    issues: list[InputIssue] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    def __str__(self) -> str:
        if not self.issues:
            return self.summary
        lines = [self.summary] + [f"  - {i}" for i in self.issues]
        return "\n".join(lines)
