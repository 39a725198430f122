"""Reading .xlsx uploads safely for ``cleanheat.tabular.read_workbook``.

* The zip is checked before parsing: its parts may not decompress to more than ``limits.max_unzipped_bytes``.
* Sheets are parsed as a stream of the cells actually present; the sheet's declared dimension
  (``<dimension ref="A1:XFD1048576"/>``) is ignored, and a sheet over ``limits`` is refused naming sheet and limit.
* Formula cells: the value Excel saved with the file, else the formula evaluated (arithmetic and SUM), else the
  file is refused naming the cell. A formula is never read as empty or zero.
"""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._reader import WorkSheetParser

from cleanheat.errors import InputError, InputIssue
from cleanheat.tabular import Cell, Sheet, SheetLimits, too_big
from cleanheat.tabular_formula import Evaluator, FormulaError

#: Work allowed for evaluating the uncached formulas of one sheet (cell look-ups), against formula bombs.
FORMULA_BUDGET = 2_000_000


def read_xlsx(data: bytes, filename: str, limits: SheetLimits) -> dict[str, Sheet]:
    _check_zip(data, filename, limits)
    try:
        # Read-only workbooks parse sheets lazily, so a damaged sheet fails while its rows are read.
        wb = load_workbook(io.BytesIO(data), data_only=True, read_only=True)
    except zipfile.BadZipFile as exc:
        raise _not_xlsx(filename) from exc
    except Exception as exc:  # openpyxl raises many types for broken workbooks
        raise _unreadable(filename, exc) from exc
    try:
        return {ws.title: _read_sheet(wb, ws, filename, limits) for ws in wb.worksheets}
    except InputError:
        raise
    except Exception as exc:  # a damaged sheet (bad XML, bad shared-string index, ...)
        raise _unreadable(filename, exc) from exc
    finally:
        wb.close()


def _not_xlsx(filename: str) -> InputError:
    return InputError(f"{filename}: 不是 Excel 工作簿 / not an Excel workbook", [InputIssue(
        "文件不是 .xlsx 格式（可能是其他格式改了扩展名，或文件已损坏）；请用 Excel 另存为 .xlsx 或 .csv "
        "(the file is not in .xlsx format: another format renamed, or damaged; save it as .xlsx or .csv)",
        file=filename)])


def _unreadable(filename: str, exc: Exception) -> InputError:
    return InputError(f"{filename}: 无法读取的 Excel 工作簿 / not a readable Excel workbook",
                      [InputIssue(f"无法读取 (cannot read): {type(exc).__name__}: {exc}", file=filename)])


def _check_zip(data: bytes, filename: str, limits: SheetLimits) -> None:
    """Refuse a zip whose parts decompress to more than the limit (a zip bomb) before anything is parsed.

    ``zipfile`` never returns more bytes than a part's declared size, so the declared sizes bound the work."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(max(i.file_size, 0) for i in zf.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _not_xlsx(filename) from exc
    if total > limits.max_unzipped_bytes:
        raise InputError(f"{filename}: 工作簿解压后过大 / workbook too large when unpacked", [InputIssue(
            f"解压后 {total:,} 字节，上限 {limits.max_unzipped_bytes:,} 字节 (unpacks to {total:,} bytes; "
            f"at most {limits.max_unzipped_bytes:,})", file=filename)])


class _Parser(WorkSheetParser):
    """openpyxl's sheet parser reading cached values, and also the formula of each formula cell."""

    def parse_cell(self, element):
        cell = super().parse_cell(element)
        if element.find("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}f") is not None:
            cell["formula"] = self.parse_formula(element)  # also registers shared formulas for later cells
        return cell


def _read_sheet(wb, ws, filename: str, limits: SheetLimits) -> Sheet:
    values: dict[tuple[int, int], object] = {}
    pending: dict[tuple[int, int], object] = {}
    with ws._get_source() as src:  # the stream of present cells; iter_rows pads to the dimension
        parser = _Parser(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                         date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        for _idx, row in parser.parse():
            for c in row:
                value, formula = c["value"], c.get("formula")
                if value is None and formula is None:
                    continue
                key = (c["row"], c["column"])
                if key[0] > limits.max_rows:
                    raise too_big(filename, ws.title, "rows 行", limits.max_rows)
                if key[1] > limits.max_cols:
                    raise too_big(filename, ws.title, "columns 列", limits.max_cols)
                values[key] = value
                if value is None:
                    pending[key] = formula
                if len(values) > limits.max_cells:
                    raise too_big(filename, ws.title, "cells 单元格", limits.max_cells)
    if pending:
        _evaluate(values, pending, filename, ws.title)
    return _dense(values, filename, ws.title, limits)


def _dense(values: dict[tuple[int, int], object], filename: str, sheet: str, limits: SheetLimits) -> Sheet:
    if not values:
        return Sheet(sheet, [])
    n_rows = max(r for r, _ in values)
    n_cols = max(c for _, c in values)
    if n_rows * n_cols > limits.max_cells:
        raise too_big(filename, sheet, "rows × columns 行×列", limits.max_cells)
    letters = [get_column_letter(c) for c in range(1, n_cols + 1)]
    rows = [[Cell(values.get((r, c)), r, letters[c - 1]) for c in range(1, n_cols + 1)] for r in range(1, n_rows + 1)]
    return Sheet(sheet, rows)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _evaluate(values: dict, pending: dict, filename: str, sheet: str) -> None:
    """Fill in every formula cell saved without its value, or refuse the file naming the first bad cell."""
    done: dict[tuple[int, int], Decimal] = {}
    active: set[tuple[int, int]] = set()
    budget = [FORMULA_BUDGET]

    def spend() -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise FormulaError("公式过于复杂 (formulas too complex to evaluate)")

    def num(key: tuple[int, int], in_range: bool) -> Decimal | None:
        spend()
        if key in pending:
            return formula_value(key)
        v = values.get(key)
        if v is None:
            return None if in_range else Decimal(0)
        if isinstance(v, bool) or not isinstance(v, int | float):
            if in_range:
                return None
            raise FormulaError(f"引用的单元格 {get_column_letter(key[1])}{key[0]} 不是数字 "
                               f"(the referenced cell is not a number)")
        return Decimal(str(v))

    def cells_in(r1: int, c1: int, r2: int, c2: int):
        for key in [k for k in values if r1 <= k[0] <= r2 and c1 <= k[1] <= c2]:
            spend()
            v = num(key, True)
            if v is not None:
                yield v

    def formula_value(key: tuple[int, int]) -> Decimal:
        if key in done:
            return done[key]
        if key in active:
            raise FormulaError("循环引用 (circular reference)")
        formula = pending[key]
        if not isinstance(formula, str):
            raise FormulaError("数组公式没有保存计算结果 (array formula saved without its value)")
        active.add(key)
        done[key] = Evaluator(lambda r, c: num((r, c), False), cells_in).run(formula)
        active.discard(key)
        return done[key]

    for key in sorted(pending):
        try:
            values[key] = _number(formula_value(key))
        except (FormulaError, RecursionError) as exc:
            formula = pending[key] if isinstance(pending[key], str) else str(getattr(pending[key], "text", ""))
            formula = formula if len(formula) <= 80 else formula[:77] + "..."
            raise InputError(f"{filename}: 公式无法读取 / a formula cannot be read", [InputIssue(
                f"公式 {formula} 没有保存计算结果且无法计算：{exc}；请在 Excel 中重新计算并保存，或填写数值 "
                f"(the formula has no saved value and cannot be evaluated; recalculate and save in Excel, "
                f"or enter the number)", file=filename, sheet=sheet, row=key[0],
                column=get_column_letter(key[1]))]) from exc
