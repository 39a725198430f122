"""Registry files: read CSV/Excel into import rows, write them back out (CSV, Excel, JSON).

An Excel workbook holds one sheet per kind (``networks``, ``stations``, ``buildings``, ``households``, ``devices``,
``points``; the Chinese names 热网/换热站/楼栋/住户/设备/测点 work too), the first row naming the columns. A CSV file
holds one kind, named by the file (``stations.csv``) or given explicitly. Columns are the fields of the input
schemas in ``assets.schemas``; the export writes exactly these, so an exported file imports unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook

from cleanheat.assets.registry_errors import AssetImportError
from cleanheat.assets.schemas import KIND_ORDER, KIND_SCHEMAS
from cleanheat.assets.service import SheetRow
from cleanheat.errors import InputIssue
from cleanheat.tabular import Sheet, SheetLimits, csv_cell, read_workbook, workbook_bytes

SHEET_ALIASES = {"热网": "networks", "换热站": "stations", "楼栋": "buildings", "住户": "households",
                 "设备": "devices", "测点": "points"}

#: A registry file: at most 50,000 records and 60 columns per sheet.
REGISTRY_LIMITS = SheetLimits(max_rows=50_000, max_cols=60, max_cells=2_000_000)


def sheet_kind(name: str) -> str:
    name = name.strip()
    return SHEET_ALIASES.get(name, name.lower())


def _cell(v):
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        return v.strip()
    return v


def _sheet_rows(sheet: Sheet, kind: str, file: str) -> list[SheetRow]:
    """Rows of one sheet: the first non-empty row names the columns, every later non-empty row is a record
    (keeping its row number as shown by Excel or a text editor)."""
    rows = [r for r in sheet.rows if any(not c.empty for c in r)]
    if not rows:
        return []
    header, out = rows[0], []
    cols = [c.text or None for c in header]
    for r in rows[1:]:
        out.append(SheetRow(kind, r[0].row, {c: _cell(cell.value) for c, cell in zip(cols, r, strict=False) if c}))
    return out


def read_assets_xlsx(data: bytes, file: str = "assets.xlsx") -> list[SheetRow]:
    """Every sheet of a workbook (a damaged workbook is an ``InputError`` naming the file)."""
    rows: list[SheetRow] = []
    for sheet in read_workbook(data, file, REGISTRY_LIMITS).values():
        rows += _sheet_rows(sheet, sheet_kind(sheet.name), file)
    return rows


def read_assets_csv(data: bytes, kind: str, file: str = "assets.csv") -> list[SheetRow]:
    """One kind of record from a CSV file (UTF-8 with or without BOM, or GBK)."""
    sheet = read_workbook(data, file if file.lower().endswith(".csv") else file + ".csv", REGISTRY_LIMITS)["csv"]
    rows = _sheet_rows(sheet, kind, file)
    if not any(not c.empty for r in sheet.rows for c in r):
        raise AssetImportError(f"{file}: empty CSV", [InputIssue("no header row", file=file, row=1)])
    return rows


def read_assets_file(data: bytes, filename: str, kind: str | None = None) -> list[SheetRow]:
    """Rows of an uploaded registry file (Excel: every sheet; CSV: ``kind`` or the file name)."""
    name = Path(filename).name
    if name.lower().endswith((".xlsx", ".xlsm")):
        return read_assets_xlsx(data, name)
    if name.lower().endswith(".csv"):
        k = sheet_kind(kind or Path(name).stem.split(".")[0])
        if k not in KIND_SCHEMAS:
            raise AssetImportError(f"{name}: which kind of record is this?",
                                   [InputIssue(f"name the file after the kind ({', '.join(KIND_ORDER)}) "
                                               "or choose the kind", file=name)])
        return read_assets_csv(data, k, name)
    raise AssetImportError(f"{name}: unsupported file type", [InputIssue("use .xlsx or .csv", file=name)])


def _plain(v):
    return v.isoformat() if isinstance(v, date | datetime) else v


def write_assets_xlsx(tables: dict[str, list[dict]]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for kind in KIND_ORDER:
        ws = wb.create_sheet(kind)
        cols = list(KIND_SCHEMAS[kind].model_fields)
        ws.append(cols)
        for row in tables.get(kind, []):
            ws.append([_plain(row.get(c)) for c in cols])
    return workbook_bytes(wb)


def write_assets_csv(tables: dict[str, list[dict]], kind: str) -> str:
    buf = io.StringIO()
    cols = list(KIND_SCHEMAS[kind].model_fields)
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in tables.get(kind, []):
        w.writerow({c: "" if row.get(c) is None else csv_cell(_plain(row.get(c))) for c in cols})
    return buf.getvalue()


def write_assets_json(tables: dict[str, list[dict]]) -> str:
    return json.dumps({k: [{c: _plain(v) for c, v in r.items()} for r in rows] for k, rows in tables.items()},
                      ensure_ascii=False, indent=1)
