"""Import heat sources and their status events from Excel (sheets 热源 and 状态变化) or CSV.

Every row is checked before anything is written; all problems are reported at once with sheet, row and column,
and nothing is imported if there is any.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
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
from cleanheat.rowspec import Column, Msg, RowResult, RowSpec, decimal, iso_date, text
from cleanheat.tabular import (
    Cell,
    Sheet,
    SheetLimits,
    header_map,
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
    issues.append(InputIssue("找不到表头行 (header row not found); 需要列: "
                             + "、".join(columns[r][0] for r in required),
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
        ev_found, _ = header_map(sheets["csv"].rows[0] if sheets["csv"].rows else [], EVENT_COLUMNS)
        if "event" in ev_found:
            ev_sheet, src_sheet = src_sheet, None
    if src_sheet is None and ev_sheet is None:
        raise InputError(f"{filename}: no sheet {SOURCE_SHEET} or {EVENT_SHEET}",
                         [InputIssue(f"需要工作表“{SOURCE_SHEET}”或“{EVENT_SHEET}”", file=filename)])
    sources: list[SourceInput] = []
    seen_codes: dict[str, int] = {}
    if src_sheet is not None:
        hdr, cols = _header_row(src_sheet, SOURCE_COLUMNS, REQUIRED, filename, issues)
        spec = _source_spec(units, org_codes)
        if hdr is not None:
            for row in src_sheet.rows[hdr + 1:]:
                cells = {name: _cell_at(row, h) for name, h in cols.items()}
                if all(c is None or c.empty for c in cells.values()):
                    continue
                item = _parse_source_row(cells, row[0].row, src_sheet.name, filename, spec, issues)
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
        spec = _event_spec(today or local_today())
        if hdr is not None:
            for row in ev_sheet.rows[hdr + 1:]:
                cells = {name: _cell_at(row, h) for name, h in cols.items()}
                if all(c is None or c.empty for c in cells.values()):
                    continue
                ev = _parse_event_row(cells, ev_sheet.name, filename, issues, spec)
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


def _choices_shown(vocab: dict) -> str:
    return "、".join(v[0] for v in vocab.values())


_BOUNDS_0 = Msg("数值 {value} 不能小于 {min}", "must be >= {min}")


def _source_spec(units: dict, org_codes: dict[str, str]) -> RowSpec:
    """The columns of the 热源 sheet: headers, types, bounds and vocabularies (units and owners of this import)."""
    def col(name: str, **kw) -> Column:
        return Column(name, SOURCE_COLUMNS[name], required=name in REQUIRED, **kw)

    def vocab(name: str, table: dict, message: str, **kw) -> Column:
        return col(name, choices=lambda t: lookup(table, t), messages={"choice": Msg(message)}, **kw)

    def amount(name: str, unit: str, **kw) -> Column:
        messages = {"minimum": _BOUNDS_0} | kw.pop("messages", {})
        return col(name, parse=decimal, unit=unit, minimum=kw.pop("minimum", 0.0), messages=messages, **kw)

    return RowSpec((
        col("code"), col("name_zh"),
        col("owner", choices=org_codes, messages={"choice": Msg("未知的所属单位“{raw}”", "unknown organisation")}),
        col("admin_unit", choices=units, messages={"choice": Msg("未知的行政区“{raw}”", "unknown unit")}),
        col("area_type", choices=AREA_TYPE_ALIASES, messages={"choice": Msg("未知的区域类型“{raw}”")}),
        col("plant_name"), col("unit_no"),
        vocab("kind", SOURCE_KINDS, f"未知的热源类型“{{raw}}”，可用: {_choices_shown(SOURCE_KINDS)}"),
        vocab("fuel", FUELS, f"未知的燃料“{{raw}}”，可用: {_choices_shown(FUELS)}"),
        amount("capacity_t_h", "t/h", maximum=5000,
               messages={"maximum": Msg("额定容量 {value} 蒸吨不合理", "implausible, > {max} t/h")}),
        amount("capacity_mw", "MW"),
        vocab("emission_class", EMISSION_CLASSES,
              f"未知的排放等级“{{raw}}”，可用: {_choices_shown(EMISSION_CLASSES)}", default="ordinary"),
        vocab("vintage", VINTAGES, "应为 在用 或 新建，而不是“{raw}”", default="existing"),
        amount("commissioned_year", "", minimum=1950, maximum=2100,
               messages={k: Msg("投运年份 {value} 不合理") for k in ("minimum", "maximum")}),
        amount("served_area_wan_m2", "万m²", maximum=20_000,
               messages={"maximum": Msg("供热面积 {value} 万m² 不合理：请以万m²填写", "area in 万m², not m²")}),
        col("address"),
        amount("lon", "°", minimum=70, maximum=140,
               messages={k: Msg("经度 {value} 不在中国境内", "WGS84 longitude expected")
                         for k in ("minimum", "maximum")}),
        amount("lat", "°", minimum=15, maximum=55,
               messages={k: Msg("纬度 {value} 不在中国境内", "WGS84 latitude expected")
                         for k in ("minimum", "maximum")}),
        col("note"),
    ), inline_en=True)


def _required_only(result: RowResult) -> list[InputIssue]:
    """A row with an empty required cell reports only those (the rest of it is not checked further)."""
    if result.missing:
        return [i for i in result.issues if i.field in result.missing]
    return result.issues


def _parse_source_row(cells: dict[str, Cell | None], row_no: int, sheet: str, filename: str, spec: RowSpec,
                      issues: list[InputIssue]) -> SourceInput | None:
    r = spec.validate(cells, file=filename, sheet=sheet, row_no=row_no)
    found = _required_only(r)
    v = r.values
    if not r.missing:
        def bad(name: str, message: str) -> None:
            c = cells.get(name)
            found.append(InputIssue(message, file=filename, sheet=sheet, row=row_no, column=c.column if c else None,
                                    field=name))

        unit, area_type = v["admin_unit"], v["area_type"]
        if unit is not None and area_type is not None and area_type not in unit.area_types:
            bad("area_type", f"{unit.name_zh}不含区域类型“{text(cells.get('area_type'))}”")
        if v["capacity_t_h"] is None and v["capacity_mw"] is None and not any(
                i.field in ("capacity_t_h", "capacity_mw") for i in found):
            bad("capacity_t_h", "额定容量（蒸吨）与额定功率（MW）至少填一项")
    issues += found
    if found:
        return None

    def opt(name: str) -> float | None:
        return None if v[name] is None else float(v[name])

    return SourceInput(
        code=v["code"], name_zh=v["name_zh"], owner_org_code=v["owner"], admin_unit_code=v["admin_unit"].code,
        area_type=v["area_type"], kind=v["kind"], fuel=v["fuel"], capacity_t_h=opt("capacity_t_h"),
        capacity_mw=opt("capacity_mw"), plant_name=v["plant_name"] or "", unit_no=v["unit_no"] or "",
        emission_class=v["emission_class"], vintage=v["vintage"],
        commissioned_year=int(v["commissioned_year"]) if v["commissioned_year"] is not None else None,
        served_area_m2=(opt("served_area_wan_m2") or 0.0) * M2_PER_WAN, address=v["address"] or "",
        lon=opt("lon"), lat=opt("lat"), note=v["note"] or "",
    )


def _event_spec(today: date) -> RowSpec:
    """The columns of the 状态变化 sheet; a date may not be after ``today``."""
    events = {k: v[:2] for k, v in EVENTS.items()}
    return RowSpec((
        Column("code", EVENT_COLUMNS["code"], required=True),
        Column("event", EVENT_COLUMNS["event"], required=True, choices=lambda t: lookup(events, t),
               messages={"choice": Msg(f"未知的状态变化“{{raw}}”，可用: {_choices_shown(EVENTS)}")}),
        Column("date", EVENT_COLUMNS["date"], parse=iso_date, required=True, maximum=today,
               messages={"type": Msg("日期“{raw}”格式应为 YYYY-MM-DD"), "maximum": Msg("日期 {value} 晚于今天")}),
        Column("note", EVENT_COLUMNS["note"], default=""),
    ), inline_en=True)


def _parse_event_row(cells: dict[str, Cell | None], sheet: str, filename: str, issues: list[InputIssue],
                     spec: RowSpec) -> tuple[str, str, date, str] | None:
    row_no = next(c.row for c in cells.values() if c is not None)
    r = spec.validate(cells, file=filename, sheet=sheet, row_no=row_no)
    found = _required_only(r)
    issues += found
    if found:
        return None
    return r["code"], r["event"], r["date"], r["note"]


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
    ws.append(["HTJT-B01", "哈投示例锅炉1号", "htjt", "道里区", "城市城区", "示例热源厂",
               "1#", "燃煤锅炉", "燃煤", 58, "",
               EMISSION_CLASSES["ordinary"][0], VINTAGES["existing"][0], 2008, 120, "", 126.6, 45.76, "示例行，可删除"])
    ev = wb.create_sheet(EVENT_SHEET)
    ev.append([v[0] for v in EVENT_COLUMNS.values()])
    ev.append(["HTJT-B01", "超低排放改造", "2019-09-30", "示例行，可删除"])
    for sheet in (ws, ev):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
    return workbook_bytes(wb)
