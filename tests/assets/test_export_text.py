"""Issue #10.5b: registry exports write user text as text (no live formula in XLSX, quoted in CSV), and the
export → import round trip gives the same text back (it used to blank text starting with '=')."""

from __future__ import annotations

import io
import zipfile

from cleanheat.assets import io as assets_io

NAMES = ["=HYPERLINK(\"http://evil\",\"点击\")", "+86 451", "-1+1", "@SUM(A1)", "'=quoted", "#N/A", "普通站"]


def _tables() -> dict[str, list[dict]]:
    return {"stations": [{"code": f"S{i}", "name_zh": name, "org_code": "htjt"} for i, name in enumerate(NAMES)]}


def test_xlsx_export_has_no_formulas_and_reads_back_exactly():
    data = assets_io.write_assets_xlsx(_tables())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert not any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    rows = [r for r in assets_io.read_assets_xlsx(data, "export.xlsx") if r.kind == "stations"]
    assert [r.cells["name_zh"] for r in rows] == NAMES


def test_csv_export_quotes_formula_text_and_reads_back_exactly():
    text = assets_io.write_assets_csv(_tables(), "stations")
    assert "\n=" not in text and ",=" not in text and ",+" not in text and ",@" not in text
    rows = assets_io.read_assets_csv(text.encode(), "stations", "stations.csv")
    assert [r.cells["name_zh"] for r in rows] == NAMES
