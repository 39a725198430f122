"""Planning areas (district parts, towns, villages): read from CSV or Excel, checked all-or-nothing.

Columns (one row per area; names are case-sensitive, order free):

=========================  ========  ===============================================================================
column                     required  meaning
=========================  ========  ===============================================================================
code                       yes       unique area code
name                       no        display name
unit_code                  no        administrative unit (district/county) the area belongs to
area_type                  yes       urban / county_fringe / rural (or 城市城区 / 县城和城乡结合部 / 农村)
households                 yes       number of households (> 0)
area_m2_<class>            ≥ 1       heated floor area [m²] of each building class of ``buildings.yaml``
current_heating            yes       today's heating as ``option:share; option:share`` (shares sum to 1) or one code
network_distance_km        yes       distance to the district-heating network [km] (0 = on the network)
gas_available              yes       yes/no (是/否, true/false, 1/0): a gas main reaches the area
gas_capacity_1e4_m3        no        gas the area's mains can carry for heating [10⁴ m³/yr]; empty = no limit
grid_zone                  no        grid supply area; empty = the area is its own zone
grid_spare_mw              yes       spare grid capacity the area adds to its zone [MW]
resources                  no        local resources (``geothermal; waste_heat; biomass_chp``)
lon, lat                   no        position for the area map [°]
=========================  ========  ===============================================================================

Lines starting with ``#`` (before the header) are comments; the synthetic set uses one to say it is synthetic.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cleanheat import rowspec as rs
from cleanheat.errors import InputError, InputIssue
from cleanheat.planner.catalogue import AREA_TYPES, Catalogue
from cleanheat.planner.errors import AreaDataError
from cleanheat.rowspec import Column, Msg, RowSpec
from cleanheat.tabular import SheetLimits, csv_cell, csv_unescape, read_workbook

REQUIRED = ("code", "area_type", "households", "current_heating", "network_distance_km", "gas_available",
            "grid_spare_mw")
OPTIONAL = ("name", "unit_code", "gas_capacity_1e4_m3", "grid_zone", "resources", "lon", "lat")
AREA_PREFIX = "area_m2_"
AREA_TYPE_ALIASES = {"城市城区": "urban", "县城和城乡结合部": "county_fringe", "农村": "rural"}
TRUE = {"yes", "y", "true", "1", "是", "有"}
FALSE = {"no", "n", "false", "0", "否", "无", ""}
MAX_ISSUES = 200


@dataclass(frozen=True)
class AreaSet:
    """Areas as parallel arrays (index ``a``). ``current_mix[a, o]`` is today's share of the catalogue's
    option ``o``."""

    name: str
    source: str
    synthetic: bool
    codes: tuple[str, ...]
    names: tuple[str, ...]
    unit_codes: tuple[str, ...]
    area_types: np.ndarray  # str
    households: np.ndarray
    class_codes: tuple[str, ...]
    area_by_class_m2: np.ndarray  # (A, C)
    option_codes: tuple[str, ...]
    current_mix: np.ndarray  # (A, O), rows sum to 1
    network_distance_km: np.ndarray
    gas_available: np.ndarray  # bool
    gas_capacity_1e4_m3: np.ndarray  # nan = no limit
    grid_zones: tuple[str, ...]
    grid_spare_mw: np.ndarray
    resources: tuple[frozenset[str], ...]
    lon: np.ndarray  # nan = unknown
    lat: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def heated_area_m2(self) -> np.ndarray:
        return self.area_by_class_m2.sum(axis=1)

    def index(self, code: str) -> int:
        try:
            return self.codes.index(code)
        except ValueError:
            raise KeyError(code) from None

    def to_rows(self) -> list[dict[str, Any]]:
        """The areas in the file schema (for storage, CSV export and re-reading)."""
        rows = []
        for a, code in enumerate(self.codes):
            mix = "; ".join(f"{self.option_codes[o]}:{self.current_mix[a, o]:.10g}"
                            for o in np.nonzero(self.current_mix[a] > 0)[0])
            row: dict[str, Any] = {
                "code": code, "name": self.names[a], "unit_code": self.unit_codes[a],
                "area_type": str(self.area_types[a]), "households": int(self.households[a])
                if float(self.households[a]).is_integer() else float(self.households[a]),
            }
            for c, cls in enumerate(self.class_codes):
                v = float(self.area_by_class_m2[a, c])
                row[AREA_PREFIX + cls] = int(v) if v.is_integer() else v
            row.update({
                "current_heating": mix,
                "network_distance_km": round(float(self.network_distance_km[a]), 3),
                "gas_available": "yes" if self.gas_available[a] else "no",
                "gas_capacity_1e4_m3": "" if math.isnan(self.gas_capacity_1e4_m3[a])
                else round(float(self.gas_capacity_1e4_m3[a]), 3),
                "grid_zone": self.grid_zones[a],
                "grid_spare_mw": round(float(self.grid_spare_mw[a]), 4),
                "resources": "; ".join(sorted(self.resources[a])),
                "lon": "" if math.isnan(self.lon[a]) else round(float(self.lon[a]), 4),
                "lat": "" if math.isnan(self.lat[a]) else round(float(self.lat[a]), 4),
            })
            rows.append(row)
        return rows


def columns_for(catalogue: Catalogue) -> list[str]:
    """The full header of an area file for this catalogue."""
    return (["code", "name", "unit_code", "area_type", "households"]
            + [AREA_PREFIX + c for c in catalogue.building_codes]
            + ["current_heating", "network_distance_km", "gas_available", "gas_capacity_1e4_m3", "grid_zone",
               "grid_spare_mw", "resources", "lon", "lat"])


# --- reading ------------------------------------------------------------------------------------------------

def _read_csv_text(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[str]]:
    lines = text.splitlines()
    comments = []
    start = 0
    while start < len(lines) and lines[start].lstrip().startswith("#"):
        comments.append(lines[start].lstrip("# ").strip())
        start += 1
    reader = csv.reader(io.StringIO("\n".join(lines[start:])))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [], comments
    rows = []
    for i, rec in enumerate(reader):
        if not any(x.strip() for x in rec):
            continue
        rec = [csv_unescape(x) for x in rec]
        rows.append((start + i + 2, {h: (rec[j].strip() if j < len(rec) else "") for j, h in enumerate(header)}))
    return header, rows, comments


#: An area file: at most this many areas (rows) and columns per sheet.
AREA_LIMITS = SheetLimits(max_rows=50_000, max_cols=100)


def _read_xlsx(data: bytes, file: str) -> tuple[str, list[str], list[tuple[int, dict[str, str]]], list[str]]:
    """The "areas" sheet (else the first) read by ``read_workbook``: size limits, formulas evaluated or refused."""
    sheets = read_workbook(data, file, AREA_LIMITS)
    if not sheets:
        return "", [], [], []
    ws = sheets.get("areas") or next(iter(sheets.values()))
    comments, header, rows = [], [], []
    for rec in ws.rows:
        r = rec[0].row
        cells = [c.text for c in rec]
        if not header:
            if cells and cells[0].startswith("#"):
                comments.append(cells[0].lstrip("# "))
                continue
            if not any(cells):
                continue
            header = cells
            continue
        if not any(cells):
            continue
        rows.append((r, {h: (cells[j] if j < len(cells) else "") for j, h in enumerate(header) if h}))
    return ws.name, [h for h in header if h], rows, comments


def read_areas(path: Path | str, catalogue: Catalogue, *, data: bytes | None = None,
               name: str | None = None) -> AreaSet:
    """Read an area file (``.csv`` or ``.xlsx``); ``data`` gives the content of an upload named ``path``."""
    path = Path(path)
    file = path.name if data is not None else str(path)
    if data is None:
        if not path.exists():
            raise AreaDataError(f"file not found: {path}", [InputIssue("文件不存在", file=str(path),
                                                                         message_en="file not found")])
        data = path.read_bytes()
    sheet = None
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            sheet, header, rows, comments = _read_xlsx(data, file)
        except InputError as exc:
            raise AreaDataError(exc.summary, exc.issues) from exc
        except Exception as exc:
            raise AreaDataError(f"{file}: not a readable Excel workbook",
                                [InputIssue(f"无法读取 Excel 文件: {exc}", file=file)]) from exc
    elif path.suffix.lower() in (".csv", ".txt"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AreaDataError(f"{file}: not UTF-8 text", [InputIssue("文件须为 UTF-8 编码", file=file,
                                                                       offset=exc.start)]) from exc
        header, rows, comments = _read_csv_text(text)
    else:
        raise AreaDataError(f"{file}: unsupported file type",
                            [InputIssue("仅支持 .csv 或 .xlsx", file=file, message_en="only .csv or .xlsx")])
    synthetic = any("synthetic" in c.lower() or "合成" in c for c in comments)
    return parse_area_rows(header, rows, catalogue, file=file, sheet=sheet, name=name or path.stem,
                           synthetic=synthetic)


def _header_issues(header: list[str], rows: list, catalogue: Catalogue) -> list[tuple[str | None, str, str]]:
    """(column, zh, en) for each problem of the header (missing, unknown columns) and an empty file."""
    out: list[tuple[str | None, str, str]] = [(c, f"缺少必需列 {c}", f"required column {c} is missing")
                                              for c in REQUIRED if c not in header]
    class_cols = [h for h in header if h.startswith(AREA_PREFIX)]
    shown = ", ".join(AREA_PREFIX + c for c in catalogue.building_codes)
    out += [(h, f"未知建筑类别列 {h}（可用: {shown}）", f"unknown building class column {h}")
            for h in class_cols if h[len(AREA_PREFIX):] not in catalogue.building_codes]
    if not class_cols:
        out.append((AREA_PREFIX + "*", "至少需要一列 area_m2_<建筑类别>",
                    "at least one area_m2_<class> column is needed"))
    out += [(h, f"未知列 {h}", f"unknown column {h}") for h in header
            if h not in REQUIRED + OPTIONAL and not h.startswith(AREA_PREFIX)]
    if not rows:
        out.append((None, "文件中没有数据行", "the file has no data rows"))
    return out


_MISSING = Msg("缺少数值", "missing value")
_NOT_A_NUMBER = Msg("不是数字: {raw!r}", "not a number: {raw!r}")


def _amount(name: str, *, required: bool = False, positive: bool = False, default: float = math.nan) -> Column:
    """A number column: non-negative (or positive), finite; empty gives ``default``."""
    word = ("正数", "positive") if positive else ("非负数", "non-negative")
    return Column(name, parse=rs.number, required=required, minimum=0.0, exclusive_minimum=positive, default=default,
                  messages={"required": _MISSING, "type": _NOT_A_NUMBER,
                            "minimum": Msg(f"须为{word[0]}: {{raw}}", f"must be {word[1]}: {{raw}}")})


def _resources(known: frozenset[str]):
    def parse(raw: object) -> frozenset[str]:
        found = {r.strip() for r in rs.text(raw).replace(",", ";").replace(" ", ";").split(";") if r.strip()}
        unknown = sorted(found - known)
        if unknown:
            shown = ", ".join(sorted(known))
            raise rs.CellError(*(Msg(f"未知资源 {r!r}（可选 {shown}）", f"unknown resource {r!r}") for r in unknown))
        return frozenset(found)
    return parse


def _mix(option_codes: tuple[str, ...]):
    """``option:share; option:share`` (or one code) -> {option: share}; every bad part is reported."""
    def parse(raw: object) -> dict[str, float]:
        parts = [p.strip() for p in rs.text(raw).split(";") if p.strip()]
        mix: dict[str, float] = {}
        bad = []
        for p in parts:
            opt, _, share = p.partition(":")
            opt = opt.strip()
            if opt not in option_codes:
                bad.append(Msg(f"未知取暖方式 {opt!r}", f"unknown option {opt!r}"))
                continue
            try:
                v = float(share) if share.strip() else (1.0 if len(parts) == 1 else math.nan)
            except ValueError:
                v = math.nan
            if not math.isfinite(v) or v < 0:
                bad.append(Msg(f"{opt} 的份额无效: {share!r}", f"invalid share for {opt}: {share!r}"))
                continue
            mix[opt] = mix.get(opt, 0.0) + v
        if bad:
            raise rs.CellError(*bad)
        return mix
    return parse


def area_spec(catalogue: Catalogue) -> RowSpec:
    """The columns of an area file for ``catalogue`` (see the table at the top of this module)."""
    unknown_type = Msg(f"未知区域类型 {{raw!r}}（可选 {', '.join(AREA_TYPES)} 或中文名）", "unknown area type {raw!r}")
    return RowSpec((
        Column("code", required=True, messages={"required": Msg("缺少区域代码", "missing area code")}),
        Column("name", default=""), Column("unit_code", default=""),
        Column("area_type", required=True, choices=AREA_TYPE_ALIASES | {t: t for t in AREA_TYPES},
               messages={"choice": unknown_type, "required": unknown_type}),
        _amount("households", required=True, positive=True),
        *(_amount(AREA_PREFIX + c, default=0.0) for c in catalogue.building_codes),
        Column("current_heating", parse=_mix(catalogue.codes), required=True,
               messages={"required": Msg("缺少现状取暖方式", "missing current heating")}),
        _amount("network_distance_km", required=True),
        Column("gas_available", parse=rs.boolean(frozenset(TRUE), frozenset(FALSE - {""})), required=True,
               default=False, messages={k: Msg("须为 yes/no: {raw!r}", "must be yes or no: {raw!r}")
                                        for k in ("required", "type")}),
        _amount("gas_capacity_1e4_m3"), Column("grid_zone", default=""), _amount("grid_spare_mw", required=True),
        Column("resources", parse=_resources(catalogue.resources), default=frozenset()),
        _amount("lon"), _amount("lat"),
    ))


def _row_checks(v: dict[str, Any], rn: int, class_cols: list[str], seen: dict[str, int]
                ) -> list[tuple[str, str, str]]:
    """(column, zh, en) for the checks across columns and rows: a unique code, an area, shares summing to 1."""
    out = []
    code = v["code"]
    if code and code in seen:
        out.append(("code", f"区域代码 {code} 重复（第 {seen[code]} 行已有）", f"duplicate area code {code}"))
    elif code:
        seen[code] = rn
    if class_cols and sum(v.get(c) or 0.0 for c in class_cols) <= 0:
        out.append((", ".join(class_cols), "供暖面积合计须大于 0", "total heated area must be positive"))
    total = sum((v["current_heating"] or {}).values())
    if total > 0 and abs(total - 1.0) > 0.005:
        out.append(("current_heating", f"份额合计为 {total:.4f}，须为 1", f"shares sum to {total:.4f}, not 1"))
    return out


def parse_area_rows(header: list[str], rows: list[tuple[int, dict[str, Any]]], catalogue: Catalogue, *, file: str,
                    sheet: str | None = None, name: str = "", synthetic: bool = False) -> AreaSet:
    """Check and convert rows (``(row number, {column: value})``); every problem is reported, nothing half-read."""
    head = [InputIssue(zh, file=file, sheet=sheet, column=c, message_en=en)
            for c, zh, en in _header_issues(header, rows, catalogue)]
    if head:
        raise AreaDataError(f"{file}: the area file cannot be read", head[:MAX_ISSUES])
    spec = area_spec(catalogue)
    where = {f: f for f in spec.fields}
    class_cols = [h for h in header if h.startswith(AREA_PREFIX)]
    issues: list[InputIssue] = []
    values, seen = [], {}
    for rn, rec in rows:
        r = spec.validate(spec.fields_of(header, rec), file=file, sheet=sheet, row_no=rn, columns=where)
        issues += r.issues + [InputIssue(zh, file=file, sheet=sheet, row=rn, column=c, message_en=en)
                              for c, zh, en in _row_checks(r.values, rn, class_cols, seen)]
        values.append(r.values)
    if issues:
        issues = issues[:MAX_ISSUES]
        raise AreaDataError(f"{file}: {len(issues)} problem(s) in the area file; nothing was imported", issues)
    return _area_set(values, catalogue, name=name, file=file, synthetic=synthetic)


def _area_set(values: list[dict[str, Any]], catalogue: Catalogue, *, name: str, file: str,
              synthetic: bool) -> AreaSet:
    """The checked rows as arrays (shares normalised to sum to 1)."""
    classes, codes_o = catalogue.building_codes, catalogue.codes
    mix = np.zeros((len(values), len(codes_o)))
    for a, v in enumerate(values):
        for opt, share in v["current_heating"].items():
            mix[a, codes_o.index(opt)] = share
        if mix[a].sum() > 0:
            mix[a] /= mix[a].sum()

    def col(key: str, dtype: Any = float) -> np.ndarray:
        return np.array([v[key] for v in values], dtype=dtype)

    codes = tuple(v["code"] for v in values)
    return AreaSet(name=name, source=file, synthetic=synthetic, codes=codes,
                   names=tuple(v["name"] or v["code"] for v in values),
                   unit_codes=tuple(v["unit_code"] for v in values),
                   area_types=np.array([v["area_type"] for v in values]), households=col("households"),
                   class_codes=classes, area_by_class_m2=np.array([[v[AREA_PREFIX + c] for c in classes]
                                                                   for v in values]).reshape(len(values), len(classes)),
                   option_codes=codes_o, current_mix=mix, network_distance_km=col("network_distance_km"),
                   gas_available=col("gas_available", bool), gas_capacity_1e4_m3=col("gas_capacity_1e4_m3"),
                   grid_zones=tuple(v["grid_zone"] or v["code"] for v in values), grid_spare_mw=col("grid_spare_mw"),
                   resources=tuple(v["resources"] for v in values), lon=col("lon"), lat=col("lat"))


def areas_from_rows(rows: list[dict[str, Any]], catalogue: Catalogue, *, name: str, source: str,
                    synthetic: bool) -> AreaSet:
    """Rebuild an area set from stored rows (the file schema, see :meth:`AreaSet.to_rows`)."""
    header = list(rows[0].keys()) if rows else []
    return parse_area_rows(header, [(i + 2, {k: "" if v is None else str(v) for k, v in r.items()})
                                    for i, r in enumerate(rows)], catalogue, file=source, name=name,
                           synthetic=synthetic)


def write_areas_csv(areas: AreaSet, catalogue: Catalogue, comment: str | None = None) -> str:
    """The area set as CSV text (the same schema ``read_areas`` reads)."""
    buf = io.StringIO()
    if comment:
        for line in comment.splitlines():
            buf.write(f"# {line}\n")
    w = csv.DictWriter(buf, fieldnames=columns_for(catalogue), lineterminator="\n")
    w.writeheader()
    for row in areas.to_rows():
        w.writerow({k: csv_cell(row.get(k, "")) for k in columns_for(catalogue)})
    return buf.getvalue()
