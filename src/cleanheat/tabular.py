"""Reading spreadsheets and CSV files with every cell's location kept, for exact error messages.

``read_workbook`` returns the sheets of an .xlsx (openpyxl) or a single pseudo-sheet for a .csv, each a list of
rows of :class:`Cell` (value, row number, column letter). Parsers turn cells into typed values and report
problems as ``InputIssue`` with file, sheet, row and column.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from openpyxl import load_workbook
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


def read_workbook(data: bytes, filename: str) -> dict[str, Sheet]:
    """Sheets by name. CSV (UTF-8 with or without BOM, or GBK as saved by Chinese Excel) gives one sheet 'csv'."""
    suffix = Path(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        sheets = {}
        try:
            # Read-only workbooks parse sheets lazily, so a damaged sheet fails while its rows are read.
            wb = load_workbook(io.BytesIO(data), data_only=True, read_only=True)
            for ws in wb.worksheets:
                rows = []
                for r_idx, row in enumerate(ws.iter_rows(values_only=True), start=1):
                    rows.append([Cell(v, r_idx, get_column_letter(c_idx)) for c_idx, v in enumerate(row, start=1)])
                sheets[ws.title] = Sheet(ws.title, rows)
            wb.close()
        except zipfile.BadZipFile as exc:
            raise InputError(f"{filename}: 不是 Excel 工作簿 / not an Excel workbook", [InputIssue(
                "文件不是 .xlsx 格式（可能是其他格式改了扩展名，或文件已损坏）；请用 Excel 另存为 .xlsx 或 .csv "
                "(the file is not in .xlsx format: another format renamed, or damaged; save it as .xlsx or .csv)",
                file=filename)]) from exc
        except Exception as exc:  # openpyxl raises many types for broken workbooks
            raise InputError(f"{filename}: 无法读取的 Excel 工作簿 / not a readable Excel workbook",
                             [InputIssue(f"无法读取 (cannot read): {type(exc).__name__}: {exc}", file=filename)]) from exc
        return sheets
    if suffix == ".csv":
        for encoding in ("utf-8-sig", "gbk"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise InputError(f"{filename}: 不是 UTF-8 或 GBK 文本 / not UTF-8 or GBK text",
                             [InputIssue("无法解码的字节 (undecodable bytes)", file=filename)])
        rows = []
        for r_idx, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            rows.append([Cell(v, r_idx, get_column_letter(c_idx)) for c_idx, v in enumerate(row, start=1)])
        return {"csv": Sheet("csv", rows)}
    raise InputError(f"{filename}: 不支持的文件类型 / unsupported file type {suffix or '(none)'}",
                     [InputIssue("请使用 .xlsx 或 .csv (use .xlsx or .csv)", file=filename)])


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
