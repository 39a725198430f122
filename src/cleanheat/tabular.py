"""Reading spreadsheets and CSV files with every cell's location kept, for exact error messages.

``read_workbook`` returns the sheets of an .xlsx (openpyxl) or a single pseudo-sheet for a .csv, each a list of
rows of :class:`Cell` (value, row number, column letter). Parsers turn cells into typed values and report
problems as ``InputIssue`` with file, sheet, row and column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from openpyxl.utils import get_column_letter

from cleanheat.errors import InputError, InputIssue


@dataclass(frozen=True)
class Cell:
    value: object
    row: int  # 1-based, as shown by Excel
    column: str  # column letter, as shown by Excel

    @property
    def text(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, float) and self.value.is_integer():
            return str(int(self.value))
        return str(self.value).strip()

    @property
    def empty(self) -> bool:
        return self.text == ""


@dataclass
class Sheet:
    name: str
    rows: list[list[Cell]]

    def find_row(self, first_cell_text: str) -> int | None:
        """Index (0-based, into ``rows``) of the first row whose first non-empty cell equals the text."""
        for i, row in enumerate(self.rows):
            cells = [c for c in row if not c.empty]
            if cells and cells[0].text == first_cell_text:
                return i
        return None


@dataclass(frozen=True)
class SheetLimits:
    """How much of a spreadsheet an upload may hold (per sheet), checked while reading, never trusting the
    sheet's declared dimension. ``max_unzipped_bytes`` bounds the decompressed size of the whole workbook."""

    max_rows: int = 20_000
    max_cols: int = 200
    max_cells: int = 1_000_000
    max_unzipped_bytes: int = 200 * 1024 * 1024


#: Default limits; importers of a particular kind of sheet pass their own.
DEFAULT_LIMITS = SheetLimits()


def read_workbook(data: bytes, filename: str, limits: SheetLimits = DEFAULT_LIMITS) -> dict[str, Sheet]:
    """Sheets by name. CSV (UTF-8 with or without BOM, or GBK as saved by Chinese Excel) gives one sheet 'csv'.

    A sheet with more rows, columns or cells than ``limits`` is refused (naming the sheet and the limit); a
    formula cell is read as its cached value, else evaluated (arithmetic and SUM), else refused naming the cell.
    """
    suffix = Path(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from cleanheat.tabular_xlsx import read_xlsx

        return read_xlsx(data, filename, limits)
    if suffix == ".csv":
        return {"csv": _read_csv(data, filename, limits)}
    raise InputError(f"{filename}: 不支持的文件类型 / unsupported file type {suffix or '(none)'}",
                     [InputIssue("请使用 .xlsx 或 .csv (use .xlsx or .csv)", file=filename)])


def too_big(filename: str, sheet: str | None, what: str, limit: int) -> InputError:
    """The refusal of a sheet over a limit, naming the sheet and the limit."""
    where = f"工作表“{sheet}” (sheet {sheet!r})" if sheet else "文件 (file)"
    return InputError(f"{filename}: 表格过大 / sheet too large", [InputIssue(
        f"{where}超过上限：{what} 最多 {limit:,} (over the limit: at most {limit:,} {what})",
        file=filename, sheet=sheet)])


def _read_csv(data: bytes, filename: str, limits: SheetLimits) -> Sheet:
    for encoding in ("utf-8-sig", "gbk"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"{filename}: 不是 UTF-8 或 GBK 文本 / not UTF-8 or GBK text",
                         [InputIssue("无法解码的字节 (undecodable bytes)", file=filename)])
    rows, cells = [], 0
    try:
        for r_idx, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if r_idx > limits.max_rows:
                raise too_big(filename, None, "rows 行", limits.max_rows)
            if len(row) > limits.max_cols:
                raise too_big(filename, None, "columns 列", limits.max_cols)
            cells += len(row)
            if cells > limits.max_cells:
                raise too_big(filename, None, "cells 单元格", limits.max_cells)
            rows.append([Cell(csv_unescape(v), r_idx, get_column_letter(c_idx)) for c_idx, v in enumerate(row, 1)])
    except csv.Error as exc:
        raise InputError(f"{filename}: 无法读取的 CSV / not a readable CSV",
                         [InputIssue(f"CSV 格式错误 (malformed CSV): {exc}", file=filename)]) from exc
    return Sheet("csv", rows)


# --- writing: text stays text -------------------------------------------------------------------------------

#: A cell starting with one of these is run as a formula by spreadsheet programs (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _needs_quote(text: str) -> bool:
    """Text a spreadsheet would run as a formula (quotes already added count: they are escaped again)."""
    stripped = text.lstrip("'")
    return stripped.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text)


def csv_cell(value: object) -> object:
    """A value for a CSV cell: text that would run as a formula gets a leading ``'`` (numbers stay numbers);
    ``csv_unescape`` (used by ``read_workbook``) removes it again, so export → import gives the same text."""
    if isinstance(value, str) and _needs_quote(value):
        return "'" + value
    return value


def csv_unescape(text: str) -> str:
    """The text ``csv_cell`` wrote (one leading ``'`` removed before a formula character)."""
    if text.startswith("'") and _needs_quote(text[1:]):
        return text[1:]
    return text


def workbook_bytes(wb, formulas: Collection[tuple[str, str]] = ()) -> bytes:
    """Save an openpyxl workbook with every text cell stored as text: openpyxl turns strings starting with
    ``=`` into formulas (and ``#N/A`` etc. into errors); user text must never run, nor vanish on re-import.
    ``formulas``: the (sheet title, coordinate) of cells the caller wrote as formulas itself (never user text)."""
    keep = set(formulas)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.data_type in ("f", "e") \
                        and (ws.title, cell.coordinate) not in keep:
                    cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parse_number(cell: Cell) -> Decimal:
    """A number from a cell (Excel numbers or text like '1,234.5'); raises ValueError with a Chinese message."""
    if isinstance(cell.value, bool):
        raise ValueError("不是数字 (not a number)")
    if isinstance(cell.value, int | float):
        return Decimal(str(cell.value))
    text = cell.text.replace(",", "").replace("，", "")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"“{cell.text}”不是数字 (not a number)") from exc
    if not value.is_finite():
        raise ValueError(f"“{cell.text}”不是有限数字 (not a finite number)")
    return value


def header_map(row: list[Cell], aliases: dict[str, tuple[str, ...]]) -> tuple[dict[str, Cell], list[str]]:
    """Map field names to header cells by accepted header texts; returns (found, missing field names)."""
    found: dict[str, Cell] = {}
    for cell in row:
        t = cell.text.replace(" ", "")
        for name, texts in aliases.items():
            if t in {x.replace(" ", "") for x in texts} and name not in found:
                found[name] = cell
    return found, [n for n in aliases if n not in found]
