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

from openpyxl import Workbook, load_workbook

from cleanheat.assets.registry_errors import AssetImportError
from cleanheat.assets.schemas import KIND_ORDER, KIND_SCHEMAS
from cleanheat.assets.service import SheetRow
from cleanheat.errors import InputIssue

SHEET_ALIASES = {"热网": "networks", "换热站": "stations", "楼栋": "buildings", "住户": "households",
                 "设备": "devices", "测点": "points"}


def sheet_kind(name: str) -> str:
    name = name.strip()
    return SHEET_ALIASES.get(name, name.lower())


def read_assets_xlsx(data: bytes, file: str = "assets.xlsx") -> list[SheetRow]:
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise AssetImportError(f"{file}: not a readable Excel workbook",
                               [InputIssue(f"cannot open: {exc}", file=file)]) from exc
    rows: list[SheetRow] = []
    for ws in wb.worksheets:
        it = ws.iter_rows(values_only=True)
        header = next(it, None)
        if header is None:
            continue
        cols = [str(h).strip() if h is not None else None for h in header]
        kind = sheet_kind(ws.title)
        for i, values in enumerate(it, start=2):
            if values is None or all(v in (None, "") for v in values):
                continue
            rows.append(SheetRow(kind, i, {c: _cell(v) for c, v in zip(cols, values, strict=False) if c}))
    wb.close()
    return rows


def _cell(v):
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def read_assets_csv(text: str, kind: str, file: str = "assets.csv") -> list[SheetRow]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise AssetImportError(f"{file}: empty CSV", [InputIssue("no header row", file=file, row=1)])
    return [SheetRow(kind, i, dict(r)) for i, r in enumerate(reader, start=2)]


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
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AssetImportError(f"{name}: not UTF-8", [InputIssue(f"byte {exc.start}: not UTF-8", file=name,
                                                                      offset=exc.start)]) from exc
        return read_assets_csv(text, k, name)
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
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_assets_csv(tables: dict[str, list[dict]], kind: str) -> str:
    buf = io.StringIO()
    cols = list(KIND_SCHEMAS[kind].model_fields)
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in tables.get(kind, []):
        w.writerow({c: "" if row.get(c) is None else _plain(row.get(c)) for c in cols})
    return buf.getvalue()


def write_assets_json(tables: dict[str, list[dict]]) -> str:
    return json.dumps({k: [{c: _plain(v) for c, v in r.items()} for r in rows] for k, rows in tables.items()},
                      ensure_ascii=False, indent=1)
