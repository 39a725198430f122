"""Quarterly progress report files: the Excel template (Chinese headers, areas in 万m²) and its parser
(Excel or CSV). Parsing is pure over bytes: it returns a :class:`ParsedReport` or raises ReportImportError
listing every problem with its sheet, row and column; nothing is stored by this module.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from cleanheat import rowspec as rs
from cleanheat.errors import InputIssue
from cleanheat.programme.errors import ReportImportError
from cleanheat.programme.model import (
    AREA_TYPE_LABELS,
    AREA_TYPES,
    Period,
    PlanData,
    task_display_scale,
    task_display_unit,
)
from cleanheat.rowspec import Column, Msg, RowSpec
from cleanheat.tabular import Cell, Sheet, SheetLimits, read_workbook, workbook_bytes
from cleanheat.units import M2_PER_WAN

#: A single cell above this many 万m² (2亿m², half the city) can only be an area typed in m².
MAX_PLAUSIBLE_WAN_M2 = 20_000
#: Sums of technology rows may differ from the stated totals by rounding only: figures are typed with two
#: decimals in 万m², so a stated total may be off by 0.01 万m² (100 m²) either way.
ROUNDING_TOLERANCE_WAN_M2 = 0.01
#: ... compared with a margin for binary floating point (a sum of decimals is not exact).
_FLOAT_MARGIN_M2 = 1e-6

#: A unit's report workbook (a few dozen rows per sheet): at most 2,000 rows and 100 columns per sheet.
REPORT_LIMITS = SheetLimits(max_rows=2_000, max_cols=100)

COVER = "封面"
AREAS = "取暖面积"
TASKS = "任务进展"
ROW_TOTAL = "取暖总面积"
ROW_CLEAN = "其中：清洁取暖面积"
LBL_UNIT = "填报单位"
LBL_UNIT_CODE = "单位编码"
LBL_PERIOD = "报告期"
LBL_CONTACT = "联系人"


@dataclass
class ParsedReport:
    org_code: str
    org_name: str
    admin_unit_code: str | None
    period: Period
    filename: str
    sha256: str
    #: (area_type, technology) -> heated area [m²]
    areas: dict[tuple[str, str], float] = field(default_factory=dict)
    #: task code -> value in the task's unit (area tasks in m², shares as fractions)
    tasks: dict[str, float] = field(default_factory=dict)
    stated_total_m2: dict[str, float] = field(default_factory=dict)
    stated_clean_m2: dict[str, float] = field(default_factory=dict)
    contact: str = ""
    #: Where the period was read (for errors raised later, e.g. a second report for an accepted period).
    period_location: InputIssue | None = None


@dataclass(frozen=True)
class Reporter:
    """A reporting organisation as the template and parser need it."""

    org_code: str
    name_zh: str
    admin_unit_code: str | None  # None for heat companies: tasks only
    area_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreviousFigures:
    """The figures a template is pre-filled with: the reporting organisation's last accepted report."""

    period: Period
    version: int
    #: (area_type, technology) -> heated area [m²]
    areas: dict[tuple[str, str], float] = field(default_factory=dict)
    #: task code -> value in the task's unit (area tasks in m², shares as fractions)
    tasks: dict[str, float] = field(default_factory=dict)


# --- template ----------------------------------------------------------------------------------------------

_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_INPUT_FILL = PatternFill("solid", fgColor="FFF9E5")
_THIN = Side(style="thin", color="B7C4D1")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _wan(area_m2: float) -> float:
    """m² -> 万m² for a pre-filled cell (rounded to what the template's two decimals show and the parser reads)."""
    return round(area_m2 / M2_PER_WAN, 4)


def write_template(plan: PlanData, reporter: Reporter, period: Period,
                   previous: PreviousFigures | None = None) -> bytes:
    """The quarterly report workbook for one reporting organisation and period: the area types the unit has,
    pre-filled with ``previous`` (its last accepted figures) when given; the total and clean rows are formulas
    (summing the technology rows), so they need no typing; a typed number replaces a formula."""
    wb = Workbook()
    formulas: set[tuple[str, str]] = set()
    cover = wb.active
    cover.title = COVER
    cover["A1"] = f"{plan.title_zh} 季度进展报表"
    cover["A1"].font = Font(bold=True, size=14)
    rows = [
        (LBL_UNIT, reporter.name_zh),
        (LBL_UNIT_CODE, reporter.org_code),
        (LBL_PERIOD, str(period)),
        (LBL_CONTACT, ""),
        ("联系电话", ""),
    ]
    for i, (k, v) in enumerate(rows, start=3):
        cover.cell(i, 1, k).font = Font(bold=True)
        c = cover.cell(i, 2, v)
        c.fill = _INPUT_FILL if k in (LBL_CONTACT, "联系电话") else PatternFill()
    notes = [
        "填报说明：",
        "1. 面积单位为万平方米（万m²），请勿填写平方米。",
        "2. “取暖面积”表按取暖方式和区域类型填写本期末的取暖面积；取暖总面积应等于各取暖方式之和，"
        "清洁取暖面积应等于清洁取暖方式之和且不大于取暖总面积。",
        "3. 燃煤取暖面积仅在热源达到超低排放时填入“燃煤（超低排放）”行，否则填入“未达超低排放”或“散煤”行。",
        "4. “任务进展”表填写自2019年1月1日起截至本期末的累计完成量（标“水平”的填写达到的水平）。",
        "5. 报告被接受后如需修改，请以“更正”方式重新提交；历史版本将保留。",
        f"依据：{plan.title_zh} §四(七) 强化数据支撑。",
    ]
    if previous is not None:
        notes.insert(1, f"已按 {previous.period} 已接受的报告（第 {previous.version} 版）预填数据，"
                        "请按本期末实际情况修改。"
                        "取暖总面积和清洁取暖面积两行为公式，自动求和。")
    for i, n in enumerate(notes, start=10):
        cover.cell(i, 1, n)
    if previous is not None:
        cover.cell(8, 1, "预填依据").font = Font(bold=True)
        cover.cell(8, 2, f"{previous.period} 第 {previous.version} 版（已接受）")
    cover.column_dimensions["A"].width = 16
    cover.column_dimensions["B"].width = 48

    if reporter.admin_unit_code:
        ws = wb.create_sheet(AREAS)
        types = [t for t in AREA_TYPES if t in reporter.area_types]
        ws["A1"] = f"{reporter.name_zh} {period} 取暖面积（万m²）"
        ws["A1"].font = Font(bold=True, size=12)
        header = ["取暖方式", "编码", "是否清洁"] + [AREA_TYPE_LABELS[t][0] for t in types]
        ws.append([])
        ws.append(header)
        for c in ws[3]:
            c.font, c.fill, c.border = Font(bold=True), _HEAD_FILL, _BORDER
        prev = previous.areas if previous is not None else {}
        first = 4
        for tech in plan.technologies:
            clean = {"clean": "是", "not_clean": "否", "clean_if_ultra_low": "是（须超低排放）",
                     "clean_if_compliant": "是（须达标排放）"}[tech.clean_rule]
            ws.append([tech.name_zh, tech.code, clean]
                      + [_wan(prev[(t, tech.code)]) if prev.get((t, tech.code)) else None for t in types])
        last = ws.max_row
        clean_rows = [first + i for i, t in enumerate(plan.technologies) if t.counts_as_clean]
        cols = [get_column_letter(4 + i) for i in range(len(types))]
        ws.append([ROW_TOTAL, "total", "公式"] + [f"=SUM({c}{first}:{c}{last})" for c in cols])
        ws.append([ROW_CLEAN, "clean", "公式"] + [f"=SUM({','.join(f'{c}{r}' for r in clean_rows)})" for c in cols])
        for r in (last + 1, last + 2):
            for c in cols:
                formulas.add((ws.title, f"{c}{r}"))
                ws[f"{c}{r}"].font = Font(bold=True)
        for row in ws.iter_rows(min_row=4, max_row=ws.max_row):
            for c in row:
                c.border = _BORDER
            for c in row[3:]:
                c.fill = _INPUT_FILL if c.row <= last else _HEAD_FILL
                c.number_format = "0.00"
        dv = DataValidation(type="decimal", operator="between", formula1="0", formula2=str(MAX_PLAUSIBLE_WAN_M2),
                            showErrorMessage=True, errorTitle="输入有误", error="请填写0及以上的数字，单位万m²")
        ws.add_data_validation(dv)
        dv.add(f"D4:{chr(ord('C') + len(types))}{ws.max_row}")
        ws["D3"].comment = Comment("单位：万平方米（万m²）", "cleanheat")
        ws.column_dimensions["A"].width = 30
        ws.column_dimensions["B"].width = 22
        ws.column_dimensions["C"].width = 16
        for i in range(len(types)):
            ws.column_dimensions[chr(ord("D") + i)].width = 18
        ws.freeze_panes = "D4"

    ts = wb.create_sheet(TASKS)
    ts["A1"] = f"{reporter.name_zh} {period} 任务进展（截至本期末累计）"
    ts["A1"].font = Font(bold=True, size=12)
    ts.append([])
    years = list(plan.years)
    ts.append(["任务编码", "任务", "单位", "口径", "完成值"] + [f"{y}年目标（全市）" for y in years] + ["方案条款"])
    for c in ts[3]:
        c.font, c.fill, c.border = Font(bold=True), _HEAD_FILL, _BORDER
    prev_tasks = previous.tasks if previous is not None else {}
    for task in plan.tasks:
        unit = task_display_unit(task.measure, task.unit_zh)
        basis = "水平" if all(t.basis == "level" for t in task.targets) else "累计"
        targets = []
        for y in years:
            t = task.target_for(y)
            if t is None:
                targets.append("")
            elif task.measure == "area_m2":
                targets.append(t.value / M2_PER_WAN)
            elif task.measure == "share":
                targets.append(t.value * 100)
            else:
                targets.append(t.value)
        done = prev_tasks.get(task.code)
        shown = round(done / task_display_scale(task.measure), 4) if done is not None else None
        ts.append([task.code, task.name_zh, unit, basis, shown] + targets + [task.clause])
    for row in ts.iter_rows(min_row=4, max_row=ts.max_row):
        for c in row:
            c.border = _BORDER
        row[4].fill = _INPUT_FILL
        row[1].alignment = Alignment(wrap_text=True)
    ts.column_dimensions["A"].width = 30
    ts.column_dimensions["B"].width = 46
    ts.column_dimensions["E"].width = 14
    return workbook_bytes(wb, formulas=formulas)


# --- parsing -----------------------------------------------------------------------------------------------

class _Issues(list):
    def add(self, message: str, filename: str, sheet: str | None = None, cell: Cell | None = None,
            field: str | None = None, row: int | None = None, column: str | None = None) -> None:
        self.append(InputIssue(message, file=filename, sheet=sheet, row=cell.row if cell else row,
                               column=cell.column if cell else column, field=field))


def _value_after(sheet: Sheet, label: str) -> Cell | None:
    for row in sheet.rows:
        for i, c in enumerate(row):
            if c.text == label:
                return row[i + 1] if i + 1 < len(row) else Cell(None, c.row, chr(ord(c.column) + 1))
    return None


def parse_report(data: bytes, filename: str, plan: PlanData, reporters: dict[str, Reporter]) -> ParsedReport:
    """Parse a filled template (.xlsx) or a CSV. ``reporters`` maps organisation codes and names."""
    sheets = read_workbook(data, filename, REPORT_LIMITS)
    sha = hashlib.sha256(data).hexdigest()
    if "csv" in sheets:
        return _parse_csv(sheets["csv"], filename, sha, plan, reporters)
    issues = _Issues()
    if COVER not in sheets:
        raise ReportImportError(f"{filename}: 缺少工作表“{COVER}”",
                                [InputIssue(f"缺少工作表“{COVER}” (cover sheet missing)", file=filename)])
    cover = sheets[COVER]
    unit_cell = _value_after(cover, LBL_UNIT_CODE) or _value_after(cover, LBL_UNIT)
    name_cell = _value_after(cover, LBL_UNIT)
    reporter = None
    for c in (unit_cell, name_cell):
        if c is not None and not c.empty and c.text in reporters:
            reporter = reporters[c.text]
            break
    if reporter is None:
        shown = (unit_cell.text if unit_cell is not None else "") or (name_cell.text if name_cell is not None else "")
        issues.add(f"未知的填报单位“{shown}” (unknown reporting unit)", filename, COVER, unit_cell or name_cell,
                   field="unit")
    period_cell = _value_after(cover, LBL_PERIOD)
    period = _check_period(period_cell, filename, COVER, plan, issues)
    if issues:
        raise ReportImportError(f"{filename}: {len(issues)} 处错误，未导入任何数据 (nothing imported)", list(issues))

    parsed = ParsedReport(reporter.org_code, reporter.name_zh, reporter.admin_unit_code, period, filename, sha,
                          contact=(_value_after(cover, LBL_CONTACT) or Cell(None, 0, "A")).text,
                          period_location=InputIssue("", file=filename, sheet=COVER, row=period_cell.row,
                                                     column=period_cell.column, field="period"))
    if reporter.admin_unit_code:
        if AREAS not in sheets:
            issues.add(f"缺少工作表“{AREAS}”", filename)
        else:
            _parse_area_sheet(sheets[AREAS], filename, plan, reporter, parsed, issues)
    if TASKS in sheets:
        _parse_task_sheet(sheets[TASKS], filename, plan, parsed, issues)
    if not issues and not parsed.areas and not parsed.tasks:
        issues.add("报表未填写任何数据（取暖面积和任务进展均为空） (the report holds no figures)", filename,
                   TASKS if TASKS in sheets else COVER)
    if issues:
        raise ReportImportError(f"{filename}: {len(issues)} 处错误，未导入任何数据 (nothing imported)", list(issues))
    return parsed


def _check_period(cell: Cell | None, filename: str, sheet: str, plan: PlanData, issues: _Issues,
                  row: int | None = None, column: str | None = None) -> Period | None:
    if cell is None or cell.empty:
        issues.add("报告期为空，应为 YYYYQn，如 2020Q4", filename, sheet, cell, field="period", row=row, column=column)
        return None
    try:
        period = Period.parse(cell.text)
    except ValueError:
        issues.add(f"报告期“{cell.text}”格式有误，应为 YYYYQn，如 2020Q4", filename, sheet, cell, field="period")
        return None
    if not plan.contains_period(period):
        issues.add(f"报告期 {period} 不在方案期 {plan.start_year}–{plan.end_year} 内 (outside the programme)",
                   filename, sheet, cell, field="period")
        return None
    return period


#: a cell of heated area [万m²]: a number, not negative, plausible (an area typed in m² is refused)
AREA_WAN = RowSpec((Column(
    "area_wan_m2", parse=rs.decimal, unit="万m²", minimum=0, maximum=MAX_PLAUSIBLE_WAN_M2, default=Decimal(0),
    messages={"minimum": Msg("面积 {value} 为负数", "negative"),
              "maximum": Msg(f"面积 {{value}} 万m² 不合理（超过 {MAX_PLAUSIBLE_WAN_M2} 万m²）："
                             "是否误填为平方米？请以万m²填写",
                             "implausible: area typed in m² instead of 万m²?")}),), inline_en=True)


def _task_value_spec(measure: str) -> RowSpec:
    """A task's 完成值 cell: a number, not negative; a share at most 100 %; an area plausible in 万m²."""
    maximum = {"share": 100, "area_m2": MAX_PLAUSIBLE_WAN_M2}.get(measure)
    too_big = (Msg("比例 {value}% 超过 100%") if measure == "share"
               else Msg("面积 {value} 万m² 不合理：是否误填为平方米？请以万m²填写"))
    return RowSpec((Column("value", parse=rs.decimal, required=True, minimum=0, maximum=maximum,
                           messages={"minimum": Msg("完成值 {value} 为负数", "negative"), "maximum": too_big}),),
                   inline_en=True)


def _one_cell(spec: RowSpec, cell: Cell, filename: str, sheet: str, issues: _Issues) -> Decimal | None:
    """The value of one cell checked by a one-column spec (its issues placed at the cell)."""
    r = spec.validate({spec.columns[0].field: cell}, file=filename, sheet=sheet)
    issues += [replace(i, field=None) for i in r.issues]
    return r.values[spec.columns[0].field] if r.ok else None


def _area_value(cell: Cell, filename: str, sheet: str, issues: _Issues) -> float | None:
    v = _one_cell(AREA_WAN, cell, filename, sheet, issues)
    return None if v is None else float(v) * M2_PER_WAN


def _totals_problems(area_type: str, total: float | None, clean: float | None, tech_sum: float,
                     clean_tech_sum: float) -> list[tuple[str, str]]:
    """Consistency of the stated totals of one area type with the technology rows: (``total`` | ``clean``,
    message) for each problem; the caller places it at the stated total's or clean area's cell."""
    label = AREA_TYPE_LABELS[area_type][0]
    out = []
    allowed = ROUNDING_TOLERANCE_WAN_M2 * M2_PER_WAN + _FLOAT_MARGIN_M2
    tol = f"允许误差 ±{ROUNDING_TOLERANCE_WAN_M2} 万m²"
    if total is not None and clean is not None and clean - total > allowed:
        out.append(("clean", f"{label}：清洁取暖面积 {fmt_wan(clean)} 万m² 大于取暖总面积 {fmt_wan(total)} 万m² "
                             "(clean area above total area)"))
    if total is not None and abs(tech_sum - total) > allowed:
        out.append(("total", f"{label}：各取暖方式之和 {fmt_wan(tech_sum)} 万m² 不等于取暖总面积 {fmt_wan(total)} 万m²"
                             f"（{tol}） (sum of the technology rows {fmt_wan(tech_sum)} ≠ stated total "
                             f"{fmt_wan(total)})"))
    if clean is not None and abs(clean_tech_sum - clean) > allowed:
        out.append(("clean", f"{label}：清洁取暖方式之和 {fmt_wan(clean_tech_sum)} 万m² 不等于所填清洁取暖面积 "
                             f"{fmt_wan(clean)} 万m²（{tol}） (sum of the clean technology rows "
                             f"{fmt_wan(clean_tech_sum)} ≠ stated clean area {fmt_wan(clean)})"))
    return out


def fmt_wan(area_m2: float) -> str:
    """万m² with two decimals, more when needed to show a difference below 0.01 (100.004 is not 100.00)."""
    wan = area_m2 / M2_PER_WAN
    text = f"{wan:.2f}"
    return text if abs(float(text) - wan) < 1e-9 else f"{wan:.4f}".rstrip("0")


def _area_rows(sheet: Sheet, hdr_idx: int, code_col: str | None, techs: dict, filename: str, issues: _Issues):
    """(row, cells by column, is total, is clean, technology) of each filled row below the header."""
    seen: set[str] = set()
    for row in sheet.rows[hdr_idx + 1:]:
        cells = {c.column: c for c in row}
        label = row[0].text if row else ""
        code = cells[code_col].text if code_col and code_col in cells else ""
        if not label and not code:
            continue
        key = code or label
        is_total = key in ("total", ROW_TOTAL) or label == ROW_TOTAL
        is_clean = key in ("clean", ROW_CLEAN) or label == ROW_CLEAN
        tech = techs.get(code) or techs.get(label)
        if not (is_total or is_clean) and tech is None:
            issues.add(f"未知的取暖方式“{key}”", filename, sheet.name, row[0])
            continue
        if tech is not None:
            if tech.code in seen:
                issues.add(f"取暖方式“{tech.name_zh}”重复", filename, sheet.name, row[0])
                continue
            seen.add(tech.code)
        yield cells, is_total, is_clean, tech


def _count_area(parsed: ParsedReport, sums: tuple[dict, dict], at: str, tech, value: float) -> None:
    """One technology's area [m²] in an area type (workbook or CSV): kept when positive, added to the type's
    total and, for a clean technology, to its clean sum (checked against the stated totals)."""
    if value > 0:
        parsed.areas[(at, tech.code)] = value
    sums[0][at] += value
    if tech.counts_as_clean:
        sums[1][at] += value


def _parse_area_sheet(sheet: Sheet, filename: str, plan: PlanData, reporter: Reporter, parsed: ParsedReport,
                      issues: _Issues) -> None:
    hdr_idx = sheet.find_row("取暖方式")
    if hdr_idx is None:
        issues.add("找不到表头行“取暖方式”", filename, sheet.name)
        return
    header = sheet.rows[hdr_idx]
    label_to_type = {AREA_TYPE_LABELS[t][0]: t for t in AREA_TYPES}
    col_type = {c.column: label_to_type[c.text] for c in header if c.text in label_to_type}
    code_col = next((c.column for c in header if c.text == "编码"), None)
    techs = {t.code: t for t in plan.technologies} | {t.name_zh: t for t in plan.technologies}
    sums, clean_sums = defaultdict(float), defaultdict(float)
    for cells, is_total, is_clean, tech in _area_rows(sheet, hdr_idx, code_col, techs, filename, issues):
        for col, at in col_type.items():
            cell = cells.get(col)
            if cell is None or ((is_total or is_clean) and cell.empty):  # an empty total is not a stated 0
                continue
            value = _area_value(cell, filename, sheet.name, issues)
            if value is None:
                continue
            if at not in reporter.area_types:
                if value > 0:
                    issues.add(f"{reporter.name_zh}不含区域类型“{AREA_TYPE_LABELS[at][0]}”，该列应为空", filename,
                               sheet.name, cell)
                continue
            if is_total or is_clean:
                (parsed.stated_total_m2 if is_total else parsed.stated_clean_m2)[at] = value
                continue
            _count_area(parsed, (sums, clean_sums), at, tech, value)
    _area_sheet_totals(sheet, header, col_type, filename, reporter, parsed, (sums, clean_sums), issues)


def _area_sheet_totals(sheet: Sheet, header: list[Cell], col_type: dict[str, str], filename: str,
                       reporter: Reporter, parsed: ParsedReport, sums: tuple[dict, dict], issues: _Issues) -> None:
    """Consistency of the stated totals with the technology rows, placed at the total's or clean row's cell."""
    total_row, clean_row = sheet.find_row(ROW_TOTAL), sheet.find_row(ROW_CLEAN)
    trow = sheet.rows[total_row][0].row if total_row is not None else None
    crow = sheet.rows[clean_row][0].row if clean_row is not None else None
    col_of = {at: col for col, at in col_type.items()}
    for at in reporter.area_types:
        col = col_of.get(at)
        if col is None:
            issues.add(f"缺少区域类型列“{AREA_TYPE_LABELS[at][0]}”", filename, sheet.name, row=header[0].row)
            continue
        total, clean = parsed.stated_total_m2.get(at), parsed.stated_clean_m2.get(at)
        for which, message in _totals_problems(at, total, clean, sums[0][at], sums[1][at]):
            issues.add(message, filename, sheet.name, row=crow if which == "clean" else trow, column=col)
        if not total and sums[0][at] == 0:  # empty, or the template's formula summing empty rows
            issues.add(f"{AREA_TYPE_LABELS[at][0]}：未填写取暖面积", filename, sheet.name, row=trow, column=col)


def _task_value(measure: str, v: Decimal) -> float:
    if measure == "area_m2":
        return float(v) * M2_PER_WAN
    if measure == "share":
        return float(v) / 100
    return float(v)


def _check_task_value(task, cell: Cell, filename: str, sheet: str, issues: _Issues) -> float | None:
    v = _one_cell(_task_value_spec(task.measure), cell, filename, sheet, issues)
    return None if v is None else _task_value(task.measure, v)


def _parse_task_sheet(sheet: Sheet, filename: str, plan: PlanData, parsed: ParsedReport, issues: _Issues) -> None:
    hdr_idx = sheet.find_row("任务编码")
    if hdr_idx is None:
        issues.add("找不到表头行“任务编码”", filename, sheet.name)
        return
    header = sheet.rows[hdr_idx]
    val_col = next((c.column for c in header if c.text == "完成值"), None)
    if val_col is None:
        issues.add("找不到列“完成值”", filename, sheet.name, row=header[0].row)
        return
    tasks = {t.code: t for t in plan.tasks}
    for row in sheet.rows[hdr_idx + 1:]:
        cells = {c.column: c for c in row}
        code_cell = row[0] if row else None
        if code_cell is None or code_cell.empty:
            continue
        task = tasks.get(code_cell.text)
        if task is None:
            issues.add(f"未知的任务编码“{code_cell.text}”", filename, sheet.name, code_cell)
            continue
        cell = cells.get(val_col)
        if cell is None or cell.empty:
            continue
        value = _check_task_value(task, cell, filename, sheet.name, issues)
        if value is not None:
            parsed.tasks[task.code] = value


CSV_COLUMNS = ("单位", "报告期", "项目", "区域类型", "编码", "数值")
AREA_KINDS = ("取暖面积", "取暖总面积", "清洁取暖面积")


def _period_in(plan: PlanData):
    """A parser of the 报告期 column: ``YYYYQn`` inside the programme."""
    def parse(raw: object) -> Period:
        period = Period.parse(rs.text(raw))
        if not plan.contains_period(period):
            raise rs.CellError(Msg(f"报告期 {period} 不在方案期 {plan.start_year}–{plan.end_year} 内",
                                   "outside the programme"))
        return period
    return parse


def _csv_specs(plan: PlanData, reporters: dict[str, Reporter]) -> tuple[RowSpec, RowSpec]:
    """The columns every CSV row has (unit, period, kind) and those an area row adds (area type, technology)."""
    kind = Msg("未知的项目“{raw}”，应为 取暖面积、取暖总面积、清洁取暖面积 或 任务")
    head = RowSpec((
        Column("unit", ("单位",), required=True, choices=reporters,
               messages={k: Msg("未知的填报单位“{raw}”") for k in ("required", "choice")}),
        Column("period", ("报告期",), parse=_period_in(plan), required=True,
               messages={"required": Msg("报告期为空，应为 YYYYQn，如 2020Q4"),
                         "type": Msg("报告期“{raw}”格式有误，应为 YYYYQn，如 2020Q4")}),
        Column("kind", ("项目",), required=True, choices={k: k for k in (*AREA_KINDS, "任务")},
               messages={"required": kind, "choice": kind}),
    ), inline_en=True)
    types = {AREA_TYPE_LABELS[t][0]: t for t in AREA_TYPES} | {t: t for t in AREA_TYPES}
    techs = {t.code: t for t in plan.technologies} | {t.name_zh: t for t in plan.technologies}
    area = RowSpec((
        Column("area_type", ("区域类型",), required=True, choices=types,
               messages={k: Msg("未知的区域类型“{raw}”") for k in ("required", "choice")}),
        Column("code", ("编码",), choices=techs, messages={"choice": Msg("未知的取暖方式“{raw}”")}),
    ), inline_en=True)
    return head, area


@dataclass
class _CsvRows:
    """The rows of a report CSV after the first pass: one reporter and period, area and task rows."""

    reporter: Reporter | None = None
    parsed: ParsedReport | None = None
    #: kind, area type, technology, value cell, and the area type's and technology's text as written
    areas: list[tuple[str, str, object, Cell, str, str]] = field(default_factory=list)
    tasks: list[tuple[Cell, Cell]] = field(default_factory=list)  # code, value


def _csv_first_pass(sheet: Sheet, filename: str, sha: str, plan: PlanData, reporters: dict[str, Reporter],
                    issues: _Issues) -> _CsvRows:
    """Check each row's unit, period and kind (and an area row's area type and technology) by the CSV specs."""
    header = [c.text for c in sheet.rows[0]]
    head_spec, area_spec = _csv_specs(plan, reporters)
    out = _CsvRows()
    for row in sheet.rows[1:]:
        if all(c.empty for c in row):
            continue
        cells = [row[i] if i < len(row) else Cell(None, row[0].row, chr(ord("A") + i)) for i in range(len(header))]
        h = head_spec.validate(head_spec.fields_of(header, cells), file=filename, sheet="csv")
        issues += h.issues[:1]  # the first problem of unit, period, kind: the rest of the row is not read
        if h.issues:
            continue
        unit_c, period_c = cells[header.index("单位")], cells[header.index("报告期")]
        r, p = h["unit"], h["period"]
        if out.reporter is not None and r.org_code != out.reporter.org_code:
            issues.add("一个文件只能包含一个填报单位", filename, "csv", unit_c, field="unit")
            continue
        if out.parsed is not None and p != out.parsed.period:
            issues.add("一个文件只能包含一个报告期", filename, "csv", period_c, field="period")
            continue
        if out.parsed is None:
            out.reporter = r
            out.parsed = ParsedReport(r.org_code, r.name_zh, r.admin_unit_code, p, filename, sha,
                                      period_location=InputIssue("", file=filename, sheet="csv", row=period_c.row,
                                                                 column=period_c.column, field="period"))
        value_c, code_c = cells[header.index("数值")], cells[header.index("编码")]
        if h["kind"] == "任务":
            out.tasks.append((code_c, value_c))
            continue
        a = area_spec.validate(area_spec.fields_of(header, cells), file=filename, sheet="csv")
        needs_tech = h["kind"] == "取暖面积"
        issues += [i for i in a.issues if i.field == "area_type" or needs_tech][:1]
        if needs_tech and a["area_type"] is not None and code_c.empty:
            issues.add(f"未知的取暖方式“{code_c.text}”", filename, "csv", code_c)
        out.areas.append((h["kind"], a["area_type"], a["code"], value_c, cells[header.index("区域类型")].text,
                          code_c.text))
    return out


def _parse_csv(sheet: Sheet, filename: str, sha: str, plan: PlanData, reporters: dict[str, Reporter]) -> ParsedReport:
    """Long-format CSV: 单位,报告期,项目(取暖面积|清洁取暖面积|取暖总面积|任务),区域类型,编码,数值 (areas in 万m²)."""
    issues = _Issues()
    if not sheet.rows:
        raise ReportImportError(f"{filename}: 空文件", [InputIssue("empty file", file=filename)])
    header = [c.text for c in sheet.rows[0]]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ReportImportError(f"{filename}: 缺少列 {'、'.join(missing)}",
                                [InputIssue(f"缺少列 {'、'.join(missing)}；表头应为 {','.join(CSV_COLUMNS)}",
                                            file=filename, sheet="csv", row=1)])
    rows = _csv_first_pass(sheet, filename, sha, plan, reporters, issues)
    if issues or rows.parsed is None:
        if rows.parsed is None and not issues:
            issues.add("没有数据行", filename, "csv", row=2)
        raise ReportImportError(f"{filename}: {len(issues)} 处错误，未导入任何数据 (nothing imported)", list(issues))
    _csv_areas(rows, filename, len(sheet.rows) + 1, issues)
    tasks = {t.code: t for t in plan.tasks}
    for code_c, val_c in rows.tasks:
        task = tasks.get(code_c.text)
        if task is None:
            issues.add(f"未知的任务编码“{code_c.text}”", filename, "csv", code_c)
            continue
        value = _check_task_value(task, val_c, filename, "csv", issues)
        if value is not None:
            rows.parsed.tasks[code_c.text] = value
    if issues:
        raise ReportImportError(f"{filename}: {len(issues)} 处错误，未导入任何数据 (nothing imported)", list(issues))
    return rows.parsed


def _csv_areas(rows: _CsvRows, filename: str, end_row: int, issues: _Issues) -> None:
    """The area rows' values into ``rows.parsed``, and the consistency of the stated totals."""
    reporter, parsed = rows.reporter, rows.parsed
    sums, clean_sums, where = defaultdict(float), defaultdict(float), {}
    for kind, at, tech, cell, type_text, code in rows.areas:
        value = _area_value(cell, filename, "csv", issues)
        if value is None:
            continue
        if reporter.admin_unit_code is None:
            issues.add("供热企业只填报任务进展，不填取暖面积", filename, "csv", cell)
            continue
        if at not in reporter.area_types and value > 0:
            issues.add(f"{reporter.name_zh}不含区域类型“{type_text}”", filename, "csv", cell)
            continue
        if kind != "取暖面积":
            which = "total" if kind == "取暖总面积" else "clean"
            (parsed.stated_total_m2 if which == "total" else parsed.stated_clean_m2)[at] = value
            where[(which, at)] = cell
            continue
        if (at, tech.code) in parsed.areas:
            issues.add(f"取暖方式“{code}”在“{type_text}”重复", filename, "csv", cell)
            continue
        _count_area(parsed, (sums, clean_sums), at, tech, value)
    for at in reporter.area_types if reporter.admin_unit_code else ():
        if at not in parsed.stated_total_m2 and sums[at] == 0:
            issues.add(f"{AREA_TYPE_LABELS[at][0]}：未填写取暖面积（{reporter.name_zh}含此区域类型）", filename, "csv",
                       row=end_row, column="F")
    for at in set(parsed.stated_total_m2) | set(parsed.stated_clean_m2):
        for which, message in _totals_problems(at, parsed.stated_total_m2.get(at), parsed.stated_clean_m2.get(at),
                                               sums[at], clean_sums[at]):
            issues.add(message, filename, "csv", where[(which, at)])
