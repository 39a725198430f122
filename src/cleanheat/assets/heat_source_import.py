"""Import heat sources and their status events from Excel (sheets 热源 and 状态变化) or CSV.

Every row is checked before anything is written; all problems are reported at once with sheet, row and column,
and nothing is imported if there is any.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.heat_sources import SourceInput, add_events_bulk, upsert_sources
from cleanheat.assets.tables import HeatSource
from cleanheat.assets.vocab import (
    AREA_TYPE_ALIASES,
    EMISSION_CLASSES,
    EVENTS,
    FUELS,
    SOURCE_KINDS,
    VINTAGES,
    lookup,
)
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.errors import InputError, InputIssue
from cleanheat.tabular import (
    Cell,
    Sheet,
    SheetLimits,
    header_map,
    parse_number,
    read_workbook,
    workbook_bytes,
)
from cleanheat.timeutil import local_today
from cleanheat.units import M2_PER_WAN

#: A heat-source workbook: at most 20,000 rows and 60 columns per sheet.
SOURCE_LIMITS = SheetLimits(max_rows=20_000, max_cols=60)

SOURCE_SHEET = "热源"
EVENT_SHEET = "状态变化"


class AdminUnit(Protocol):
    """What the import needs of an administrative unit (the programme's ``AdminUnitSpec`` fits): its code, Chinese
    name (either may appear in the workbook) and the area types it contains."""

    @property
    def code(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def area_types(self) -> tuple[str, ...]: ...


SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("编码", "code"),
    "name_zh": ("名称", "name"),
    "owner": ("所属单位", "owner"),
    "admin_unit": ("行政区", "区县", "admin_unit"),
    "area_type": ("区域类型", "area_type"),
    "plant_name": ("热源厂", "厂名", "plant_name"),
    "unit_no": ("机组编号", "unit_no"),
    "kind": ("类型", "kind"),
    "fuel": ("燃料", "fuel"),
    "capacity_t_h": ("额定容量(蒸吨)", "额定容量（蒸吨）", "capacity_t_h"),
    "capacity_mw": ("额定功率(MW)", "额定功率（MW）", "capacity_mw"),
    "emission_class": ("排放等级", "emission_class"),
    "vintage": ("新建/在用", "vintage"),
    "commissioned_year": ("投运年份", "commissioned_year"),
    "served_area_wan_m2": ("供热面积(万m²)", "供热面积（万m²）", "served_area_wan_m2"),
    "address": ("地址", "address"),
    "lon": ("经度", "lon"),
    "lat": ("纬度", "lat"),
    "note": ("备注", "note"),
}
REQUIRED = ("code", "name_zh", "owner", "admin_unit", "area_type", "kind", "fuel")
EVENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("编码", "code"),
    "event": ("事件", "event"),
    "date": ("日期", "date"),
    "note": ("备注", "note"),
}


@dataclass
class ParsedRegistry:
    sources: list[SourceInput]
    events: list[tuple[str, str, date, str]]


def _header_row(sheet: Sheet, columns: dict, required: tuple[str, ...], filename: str, issues: list[InputIssue]):
    for idx, row in enumerate(sheet.rows[:10]):
        found, missing = header_map(row, columns)
        if not [m for m in missing if m in required]:
            return idx, found
    issues.append(InputIssue("找不到表头行 (header row not found); 需要列: " + "、".join(columns[r][0] for r in required),
                             file=filename, sheet=sheet.name))
    return None, {}


def parse_registry(data: bytes, filename: str, admin_units: Iterable[AdminUnit], org_codes: dict[str, str],
                   *, today: date | None = None) -> ParsedRegistry:
    """Parse a registry workbook or CSV. ``admin_units`` are the programme's units (a row names one by code or
    Chinese name); ``org_codes`` maps organisation codes and names to codes."""
    sheets = read_workbook(data, filename, SOURCE_LIMITS)
    issues: list[InputIssue] = []
    admin_units = list(admin_units)
    units = {u.code: u for u in admin_units} | {u.name_zh: u for u in admin_units}
    src_sheet = sheets.get(SOURCE_SHEET) or (sheets.get("csv") if "csv" in sheets else None)
    ev_sheet = sheets.get(EVENT_SHEET)
    if src_sheet is not None and "csv" in sheets:
        # A CSV holds either sources or events; decide by its header.
        _, ev_found = header_map(sheets["csv"].rows[0] if sheets["csv"].rows else [], EVENT_COLUMNS)
        if "event" in ev_found:
            ev_sheet, src_sheet = src_sheet, None
    if src_sheet is None and ev_sheet is None:
        raise InputError(f"{filename}: no sheet {SOURCE_SHEET} or {EVENT_SHEET}",
                         [InputIssue(f"需要工作表“{SOURCE_SHEET}”或“{EVENT_SHEET}”", file=filename)])
    sources: list[SourceInput] = []
    seen_codes: dict[str, int] = {}
    if src_sheet is not None:
        hdr, cols = _header_row(src_sheet, SOURCE_COLUMNS, REQUIRED, filename, issues)
        if hdr is not None:
            for row in src_sheet.rows[hdr + 1:]:
                cells = {name: _cell_at(row, h) for name, h in cols.items()}
                if all(c is None or c.empty for c in cells.values()):
                    continue
                item = _parse_source_row(cells, row[0].row, src_sheet.name, filename, units, org_codes, issues)
                if item is not None:
                    if item.code in seen_codes:
                        issues.append(InputIssue(f"编码 {item.code} 重复（第 {seen_codes[item.code]} 行已有）",
                                                 file=filename, sheet=src_sheet.name, row=row[0].row,
                                                 column=cols["code"].column))
                    seen_codes[item.code] = row[0].row
                    sources.append(item)
    events: list[tuple[str, str, date, str]] = []
    if ev_sheet is not None:
        hdr, cols = _header_row(ev_sheet, EVENT_COLUMNS, ("code", "event", "date"), filename, issues)
        if hdr is not None:
            for row in ev_sheet.rows[hdr + 1:]:
                cells = {name: _cell_at(row, h) for name, h in cols.items()}
                if all(c is None or c.empty for c in cells.values()):
                    continue
                ev = _parse_event_row(cells, ev_sheet.name, filename, issues, today or local_today())
                if ev is not None:
                    events.append(ev)
    if issues:
        raise InputError(f"{filename}: {len(issues)} 处错误，未导入任何数据 (nothing imported)", issues)
    return ParsedRegistry(sources, events)


def _cell_at(row: list[Cell], header: Cell) -> Cell | None:
    for c in row:
        if c.column == header.column:
            return c
    return None


def _parse_source_row(cells: dict[str, Cell | None], row_no: int, sheet: str, filename: str, units: dict,
                      org_codes: dict[str, str], issues: list[InputIssue]) -> SourceInput | None:
    n_before = len(issues)

    def bad(name: str, msg: str) -> None:
        c = cells.get(name)
        issues.append(InputIssue(msg, file=filename, sheet=sheet, row=row_no, column=c.column if c else None,
                                 field=name))

    def text(name: str) -> str:
        c = cells.get(name)
        return c.text if c is not None else ""

    def number(name: str, *, minimum: float = 0.0) -> float | None:
        c = cells.get(name)
        if c is None or c.empty:
            return None
        try:
            v = parse_number(c)
        except ValueError as exc:
            bad(name, str(exc))
            return None
        if v < Decimal(str(minimum)):
            bad(name, f"数值 {v} 不能小于 {minimum} (must be >= {minimum})")
            return None
        return float(v)

    for name in REQUIRED:
        if not text(name):
            bad(name, "必填项为空 (required)")
    if len(issues) > n_before:
        return None
    unit = units.get(text("admin_unit"))
    if unit is None:
        bad("admin_unit", f"未知的行政区“{text('admin_unit')}” (unknown unit)")
    area_type = AREA_TYPE_ALIASES.get(text("area_type"))
    if area_type is None:
        bad("area_type", f"未知的区域类型“{text('area_type')}”")
    elif unit is not None and area_type not in unit.area_types:
        bad("area_type", f"{unit.name_zh}不含区域类型“{text('area_type')}”")
    owner = org_codes.get(text("owner"))
    if owner is None:
        bad("owner", f"未知的所属单位“{text('owner')}” (unknown organisation)")
    kind, fuel = lookup(SOURCE_KINDS, text("kind")), lookup(FUELS, text("fuel"))
    if kind is None:
        bad("kind", f"未知的热源类型“{text('kind')}”，可用: {'、'.join(v[0] for v in SOURCE_KINDS.values())}")
    if fuel is None:
        bad("fuel", f"未知的燃料“{text('fuel')}”，可用: {'、'.join(v[0] for v in FUELS.values())}")
    emission_class = lookup(EMISSION_CLASSES, text("emission_class")) if text("emission_class") else "ordinary"
    if emission_class is None:
        bad("emission_class", f"未知的排放等级“{text('emission_class')}”，可用: "
                              f"{'、'.join(v[0] for v in EMISSION_CLASSES.values())}")
    vintage = lookup(VINTAGES, text("vintage")) if text("vintage") else "existing"
    if vintage is None:
        bad("vintage", f"应为 在用 或 新建，而不是“{text('vintage')}”")
    cap_t_h, cap_mw = number("capacity_t_h"), number("capacity_mw")
    if cap_t_h is None and cap_mw is None and not any(
            i.row == row_no and i.field in ("capacity_t_h", "capacity_mw") for i in issues[n_before:]):
        bad("capacity_t_h", "额定容量（蒸吨）与额定功率（MW）至少填一项")
    if cap_t_h is not None and cap_t_h > 5000:
        bad("capacity_t_h", f"额定容量 {cap_t_h} 蒸吨不合理 (implausible, > 5000 t/h)")
    area_wan = number("served_area_wan_m2")
    if area_wan is not None and area_wan > 20_000:
        bad("served_area_wan_m2", f"供热面积 {area_wan} 万m² 不合理：请以万m²填写 (area in 万m², not m²)")
    year = number("commissioned_year")
    if year is not None and not 1950 <= year <= 2100:
        bad("commissioned_year", f"投运年份 {int(year)} 不合理")
    lon, lat = number("lon", minimum=-180), number("lat", minimum=-90)
    if lon is not None and not 70 <= lon <= 140:
        bad("lon", f"经度 {lon} 不在中国境内 (WGS84 longitude expected)")
    if lat is not None and not 15 <= lat <= 55:
        bad("lat", f"纬度 {lat} 不在中国境内 (WGS84 latitude expected)")
    if len(issues) > n_before:
        return None
    return SourceInput(
        code=text("code"), name_zh=text("name_zh"), owner_org_code=owner, admin_unit_code=unit.code,
        area_type=area_type, kind=kind, fuel=fuel, capacity_t_h=cap_t_h, capacity_mw=cap_mw,
        plant_name=text("plant_name"), unit_no=text("unit_no"), emission_class=emission_class, vintage=vintage,
        commissioned_year=int(year) if year is not None else None,
        served_area_m2=(area_wan or 0.0) * M2_PER_WAN, address=text("address"), lon=lon, lat=lat, note=text("note"),
    )


def _parse_event_row(cells: dict[str, Cell | None], sheet: str, filename: str, issues: list[InputIssue],
                     today: date) -> tuple[str, str, date, str] | None:
    code_c, ev_c, date_c = cells.get("code"), cells.get("event"), cells.get("date")
    row_no = next(c.row for c in cells.values() if c is not None)
    n_before = len(issues)
    for name, c in (("code", code_c), ("event", ev_c), ("date", date_c)):
        if c is None or c.empty:
            issues.append(InputIssue("必填项为空 (required)", file=filename, sheet=sheet, row=row_no,
                                     column=c.column if c else None, field=name))
    if len(issues) > n_before:
        return None
    event = lookup({k: v[:2] for k, v in EVENTS.items()}, ev_c.text)
    if event is None:
        issues.append(InputIssue(f"未知的状态变化“{ev_c.text}”，可用: {'、'.join(v[0] for v in EVENTS.values())}",
                                 file=filename, sheet=sheet, row=row_no, column=ev_c.column, field="event"))
    d = date_c.value
    if isinstance(d, datetime):
        d = d.date()
    elif not isinstance(d, date):
        try:
            d = date.fromisoformat(date_c.text)
        except ValueError:
            issues.append(InputIssue(f"日期“{date_c.text}”格式应为 YYYY-MM-DD", file=filename, sheet=sheet,
                                     row=row_no, column=date_c.column, field="date"))
            d = None
    if d is not None and d > today:
        issues.append(InputIssue(f"日期 {d} 晚于今天", file=filename, sheet=sheet, row=row_no, column=date_c.column,
                                 field="date"))
    if len(issues) > n_before:
        return None
    note = cells["note"].text if cells.get("note") is not None else ""
    return code_c.text, event, d, note


def org_code_map(session: Session) -> dict[str, str]:
    out = {}
    for o in session.scalars(select(Organisation)):
        out[o.code] = o.code
        out[o.name_zh] = o.code
        if o.name_en:
            out[o.name_en] = o.code
    return out


def import_registry(session: Session, actor: Actor, data: bytes, filename: str, admin_units: Iterable[AdminUnit],
                    mw_per_t_h_value: float, *, today: date | None = None) -> dict[str, int]:
    """Parse and import; any problem raises InputError and nothing is written (the caller rolls back)."""
    parsed = parse_registry(data, filename, admin_units, org_code_map(session), today=today)
    created, updated = upsert_sources(session, actor, parsed.sources, mw_per_t_h_value=mw_per_t_h_value,
                                      origin=filename)
    known = {c for (c,) in session.execute(select(HeatSource.code))}
    missing = [InputIssue(f"事件引用了未登记的热源编码 {code}", file=filename, sheet=EVENT_SHEET, field="code")
               for code, *_ in parsed.events if code not in known]
    if missing:
        raise InputError(f"{filename}: 事件引用了未登记的热源，未导入任何数据", missing)
    n_events = add_events_bulk(session, actor, parsed.events, today=today)
    return {"created": created, "updated": updated, "events": n_events}


def registry_template() -> bytes:
    """An empty registry workbook with the two sheets and their Chinese headers."""
    wb = Workbook()
    ws = wb.active
    ws.title = SOURCE_SHEET
    ws.append([v[0] for v in SOURCE_COLUMNS.values()])
    ws.append(["HTJT-B01", "哈投示例锅炉1号", "htjt", "道里区", "城市城区", "示例热源厂", "1#", "燃煤锅炉", "燃煤", 58, "",
               EMISSION_CLASSES["ordinary"][0], VINTAGES["existing"][0], 2008, 120, "", 126.6, 45.76, "示例行，可删除"])
    ev = wb.create_sheet(EVENT_SHEET)
    ev.append([v[0] for v in EVENT_COLUMNS.values()])
    ev.append(["HTJT-B01", "超低排放改造", "2019-09-30", "示例行，可删除"])
    for sheet in (ws, ev):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
    return workbook_bytes(wb)
