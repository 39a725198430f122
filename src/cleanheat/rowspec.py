"""Declarative column specifications and one generic row validator for imported tables.

A :class:`Column` says what one column of an import holds: its field name, the header texts it is found by
(Chinese first, then English), how a cell becomes a value (``parse``), whether it is required, its unit, bounds
and allowed values, and the messages for each kind of problem. :meth:`RowSpec.validate` turns one row (a mapping
of field -> raw value, built from a dict or from a sequence with its header by :meth:`RowSpec.fields_of`) into
typed values plus every :class:`cleanheat.errors.InputIssue` found (file, sheet, row, column, field), so an import
can collect all problems before it writes anything (imports stay all-or-nothing; raising is the caller's part).

Messages are :class:`Msg` templates (Chinese, English) filled with ``{raw}`` (the cell's text), ``{value}`` (the
parsed value), ``{min}``, ``{max}``, ``{unit}``, ``{field}`` and ``{choices}``. An issue carries the Chinese text as
``message`` and the English as ``message_en``, or both in ``message`` as ``中文 (English)`` when the spec says
``inline_en=True`` (the workbook imports, whose messages have always read that way).

Pure: no I/O, no storage; the shared modules ``errors`` and ``tabular`` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cleanheat.errors import InputIssue
from cleanheat.tabular import Cell, parse_number


@dataclass(frozen=True)
class Msg:
    """A message in Chinese and English; either may hold ``{raw}``, ``{value}``, ``{min}``, ``{max}``, ``{unit}``,
    ``{field}``, ``{choices}`` placeholders."""

    zh: str
    en: str = ""

    def render(self, **values: Any) -> tuple[str, str]:
        return self.zh.format(**values), self.en.format(**values)


class CellError(ValueError):
    """Raised by a ``parse`` function: the cell is not of the column's type. Holds one or more messages (a
    list cell may have several bad items), taken as they are (not templates: they may quote the cell); a plain
    ``ValueError`` gives the column's ``type`` message."""

    def __init__(self, *messages: Msg) -> None:
        super().__init__("; ".join(m.zh for m in messages))
        self.messages = messages


DEFAULT_MESSAGES: dict[str, Msg] = {
    "required": Msg("必填项为空", "required"),
    "type": Msg("“{raw}”格式有误", "invalid value {raw!r}"),
    "choice": Msg("未知的值“{raw}”，可用: {choices}", "unknown value {raw!r}"),
    "minimum": Msg("数值 {value} 不能小于 {min}", "must be >= {min}"),
    "maximum": Msg("数值 {value} 不能大于 {max}", "must be <= {max}"),
}


@dataclass(frozen=True)
class Column:
    """One column of an import.

    ``parse`` turns the raw value (a :class:`cleanheat.tabular.Cell`, text, number or ``None``) into the typed
    value and raises ``ValueError``/:class:`CellError` when it cannot. ``choices`` maps accepted texts to values
    (or is a function returning ``None`` for an unknown text); ``minimum``/``maximum`` bound the parsed value
    (``exclusive_minimum``/``exclusive_maximum``: the bound itself is out; a non-finite number is out of bounds;
    text such as ``low``/``high`` where numbers are expected is not compared). An empty
    cell gives ``default`` (after the ``required`` check). ``messages`` override :data:`DEFAULT_MESSAGES` per check.
    """

    field: str
    headers: tuple[str, ...] = ()
    parse: Callable[[Any], Any] | None = None
    required: bool = False
    unit: str = ""
    minimum: Any = None
    maximum: Any = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: Mapping[str, Any] | Callable[[str], Any] | None = None
    choices_shown: str = ""
    default: Any = None
    messages: Mapping[str, Msg] = field(default_factory=dict)

    @property
    def header_texts(self) -> tuple[str, ...]:
        return self.headers or (self.field,)

    def message(self, check: str) -> Msg:
        return self.messages.get(check) or DEFAULT_MESSAGES[check]


@dataclass
class RowResult:
    """The typed values of one row (``None`` for a field with a problem) and the problems found."""

    values: dict[str, Any]
    issues: list[InputIssue]
    #: the required fields that were empty (some imports report only these when any is missing)
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.issues

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, Cell):
        return raw.empty
    return isinstance(raw, str) and raw.strip() == ""


def raw_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, Cell):
        return raw.text
    return str(raw).strip()


# --- parsers ------------------------------------------------------------------------------------------------

def text(raw: Any) -> str:
    """The cell's text, stripped."""
    return raw_text(raw)


def number(raw: Any) -> float:
    """A float from a cell, a number or text like ``1,234.5`` (``inf``/``nan`` are left for the bounds to refuse)."""
    if isinstance(raw, bool):
        raise ValueError("not a number")
    if isinstance(raw, Cell):
        return float(parse_number(raw))
    if isinstance(raw, int | float | Decimal):
        return float(raw)
    return float(raw_text(raw))


def integer(raw: Any) -> int:
    """A whole number (an int, an integral float or its text)."""
    if isinstance(raw, bool):
        raise ValueError("not a whole number")
    value = number(raw)
    if not value.is_integer():
        raise ValueError("not a whole number")
    return int(value)


def decimal(raw: Any) -> Decimal:
    """A finite Decimal by :func:`cleanheat.tabular.parse_number` (its message names the text: “x”不是数字)."""
    return parse_number(raw if isinstance(raw, Cell) else Cell(raw, 0, ""))


def boolean(true: frozenset[str], false: frozenset[str]) -> Callable[[Any], bool]:
    """A yes/no parser: lower-cased text in ``true`` or ``false``."""

    def parse(raw: Any) -> bool:
        t = raw_text(raw).lower()
        if t in true:
            return True
        if t in false:
            return False
        raise ValueError(t)

    return parse


def iso_date(raw: Any) -> date:
    """A date from an Excel date cell or ``YYYY-MM-DD`` text."""
    value = raw.value if isinstance(raw, Cell) else raw
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(raw_text(raw))


# --- the row spec -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowSpec:
    """The columns of one kind of row and how its problems are worded."""

    columns: tuple[Column, ...]
    inline_en: bool = False

    def __post_init__(self) -> None:
        names = [c.field for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate field names in a row spec: {names}")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)

    def unknown_keys(self, row: Mapping[str, Any]) -> list[str]:
        """The keys of a mapping row that are no field of this spec (a misspelt key would be ignored)."""
        return sorted(str(k) for k in row if k not in self.fields)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.field == name)

    def aliases(self) -> dict[str, tuple[str, ...]]:
        """{field: accepted header texts} (for :func:`cleanheat.tabular.header_map`)."""
        return {c.field: c.header_texts for c in self.columns}

    def locate(self, header: Sequence[str]) -> dict[str, int]:
        """{field: index in ``header``} for the fields whose header is present (spaces ignored; first match)."""
        out: dict[str, int] = {}
        norm = [str(h or "").replace(" ", "") for h in header]
        for c in self.columns:
            texts = {t.replace(" ", "") for t in c.header_texts}
            idx = next((i for i, h in enumerate(norm) if h in texts), None)
            if idx is not None:
                out[c.field] = idx
        return out

    def fields_of(self, header: Sequence[str], row: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
        """The row as {field: raw value}: ``row`` is a sequence in the order of ``header`` or a mapping by header
        text; a field whose column is absent is left out."""
        if isinstance(row, Mapping):
            return {c.field: row[h] for c in self.columns for h in c.header_texts if h in row}
        return {name: (row[i] if i < len(row) else None) for name, i in self.locate(header).items()}

    def validate(self, row: Mapping[str, Any], *, file: str | None = None, sheet: str | None = None,
                 row_no: int | None = None, columns: Mapping[str, str] | None = None,
                 field_prefix: str = "") -> RowResult:
        """Check every column of ``row`` ({field: raw value}); a :class:`Cell` gives its own row and column,
        else ``row_no`` and ``columns[field]`` (e.g. the header text or column letter) place the issue;
        ``field_prefix`` is put before the field name of each issue (a path such as ``units.daoli.``)."""
        result = RowResult({}, [], [])
        for col in self.columns:
            raw = row.get(col.field)
            where = _Where(self, file, sheet, row_no, _column_of(raw, col.field, columns), field_prefix + col.field)
            result.values[col.field] = _check(col, raw, where, result)
        return result


@dataclass(frozen=True)
class _Where:
    spec: RowSpec
    file: str | None
    sheet: str | None
    row: int | None
    column: str | None
    field: str

    def issue(self, msg: Msg, **values: Any) -> InputIssue:
        return self.literal(*msg.render(**values))

    def literal(self, zh: str, en: str = "") -> InputIssue:
        """An issue with this text as it is (it may hold user text, so it is not a template)."""
        if self.spec.inline_en:
            zh, en = (f"{zh} ({en})" if en else zh), None
        return InputIssue(zh, file=self.file, sheet=self.sheet, row=self.row, column=self.column, field=self.field,
                          message_en=en or None)


def _column_of(raw: Any, name: str, columns: Mapping[str, str] | None) -> str | None:
    if isinstance(raw, Cell) and raw.column:
        return raw.column
    return columns.get(name) if columns is not None else None


def _check(col: Column, raw: Any, where: _Where, result: RowResult) -> Any:
    """The value of one cell, appending its problems to ``result``."""
    shown = {"raw": raw_text(raw), "unit": col.unit, "field": col.field, "min": col.minimum, "max": col.maximum,
             "choices": col.choices_shown, "value": raw_text(raw)}
    if isinstance(raw, Cell) and raw.row and where.row is None:
        where = _Where(where.spec, where.file, where.sheet, raw.row, where.column, where.field)
    if is_empty(raw):
        if col.required:
            result.missing.append(col.field)
            result.issues.append(where.issue(col.message("required"), **shown))
        return col.default
    try:
        value = (col.parse or text)(raw)
    except CellError as exc:
        result.issues += [where.literal(m.zh, m.en) for m in exc.messages]
        return None
    except (TypeError, ValueError, ArithmeticError) as exc:
        if "type" not in col.messages and col.parse is decimal and str(exc):
            result.issues.append(where.literal(str(exc)))  # parse_number's own words: “x”不是数字 (not a number)
        else:
            result.issues.append(where.issue(col.message("type"), **shown))
        return None
    if col.choices is not None:
        found = col.choices(value) if callable(col.choices) else col.choices.get(value)
        if found is None:
            result.issues.append(where.issue(col.message("choice"), **shown))
            return None
        value = found
    shown["value"] = value
    return value if _in_bounds(col, value, where, result, shown) else None


def _in_bounds(col: Column, value: Any, where: _Where, result: RowResult, shown: dict) -> bool:
    if (col.minimum is None and col.maximum is None) or isinstance(value, str):
        return True
    if isinstance(value, float) and not math.isfinite(value):
        result.issues.append(where.issue(col.message("minimum"), **shown))
        return False
    low = _comparable(col.minimum, value)
    if low is not None and (value < low or (col.exclusive_minimum and value == low)):
        result.issues.append(where.issue(col.message("minimum"), **shown))
        return False
    high = _comparable(col.maximum, value)
    if high is not None and (value > high or (col.exclusive_maximum and value == high)):
        result.issues.append(where.issue(col.message("maximum"), **shown))
        return False
    return True


def _comparable(bound: Any, value: Any) -> Any:
    """``bound`` in the type of ``value`` (a Decimal value is compared with a Decimal bound)."""
    if bound is None:
        return None
    if isinstance(value, Decimal) and isinstance(bound, int | float):
        return Decimal(str(bound))
    return bound
