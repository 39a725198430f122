"""Spreadsheet reading: damaged files give a located input error, never a crash; GBK CSV is accepted."""

import csv
import io
import re
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from cleanheat.errors import InputError
from cleanheat.store.text import storable_text
from cleanheat.tabular import (
    DEFAULT_LIMITS,
    SheetLimits,
    csv_cell,
    csv_unescape,
    read_workbook,
    workbook_bytes,
)


def _xlsx() -> bytes:
    wb = Workbook()
    wb.active.append(["编码", "数值"])
    wb.active.append(["a", 1])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_damaged_sheet_inside_a_valid_zip_is_an_input_error():
    src = zipfile.ZipFile(io.BytesIO(_xlsx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                data = data[: len(data) // 2]  # truncated XML: parsed only when rows are read
            dst.writestr(item, data)
    with pytest.raises(InputError) as exc:
        read_workbook(out.getvalue(), "broken.xlsx")
    assert exc.value.issues[0].file == "broken.xlsx"


def test_gbk_csv_and_cell_locations():
    sheets = read_workbook("编码,数值\n甲,1\n".encode("gbk"), "x.csv")
    cell = sheets["csv"].rows[1][0]
    assert (cell.text, cell.row, cell.column) == ("甲", 2, "A")


def test_storable_text_removes_nul_and_cuts():
    assert storable_text("MN\x00X", 4) == "MN\\x"
    assert storable_text(None) == ""


def test_a_non_excel_file_named_xlsx_gets_a_plain_message():
    with pytest.raises(InputError) as exc:
        read_workbook(b"%PDF-1.7 not a workbook", "report.xlsx")
    (issue,) = exc.value.issues
    assert "不是 .xlsx 格式" in issue.message and "save it as .xlsx or .csv" in issue.message
    assert "BadZipFile" not in issue.message and issue.file == "report.xlsx"


# --- issue #10.4/#10.5: dimension bombs, zip bombs, formula cells, export text stays text ---------------------

def _patched(data: bytes, part: str, edit) -> bytes:
    """The workbook ``data`` with one zip part rewritten by ``edit(bytes) -> bytes``."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            dst.writestr(item.filename, edit(body) if item.filename == part else body)
    return out.getvalue()


def _declare(data: bytes, ref: str, extra_cell: str = "") -> bytes:
    def edit(xml: bytes) -> bytes:
        xml = re.sub(rb'<dimension ref="[^"]+"/>', f'<dimension ref="{ref}"/>'.encode(), xml)
        return xml.replace(b"</sheetData>", extra_cell.encode() + b"</sheetData>")
    return _patched(data, "xl/worksheets/sheet1.xml", edit)


def test_a_declared_dimension_is_ignored():
    """A 5 KB file declaring A1:XFD1048576 reads as the two rows of two cells it holds (it used to be padded
    to the declared size: 300 MB and 10 s for A1:Z100000, unbounded for the whole sheet)."""
    sheets = read_workbook(_declare(_xlsx(), "A1:XFD1048576"), "bomb.xlsx")
    rows = sheets["Sheet"].rows
    assert [[c.value for c in r] for r in rows] == [["编码", "数值"], ["a", 1]]


@pytest.mark.parametrize("cell, what", [
    ('<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>', "rows"),
    ('<row r="3"><c r="XFD3" t="inlineStr"><is><t>x</t></is></c></row>', "columns"),
])
def test_a_sheet_over_its_limits_is_refused_naming_sheet_and_limit(cell, what):
    with pytest.raises(InputError) as exc:
        read_workbook(_declare(_xlsx(), "A1:XFD1048576", cell), "bomb.xlsx")
    (issue,) = exc.value.issues
    assert issue.sheet == "Sheet" and what in issue.message and f"{DEFAULT_LIMITS.max_rows:,}" in issue.message \
        if what == "rows" else f"{DEFAULT_LIMITS.max_cols:,}" in issue.message


def test_rows_times_columns_are_capped_per_sheet_type():
    wb = Workbook()
    for i in range(30):
        wb.active.append([i] * 10)
    with pytest.raises(InputError) as exc:
        read_workbook(workbook_bytes(wb), "many.xlsx", SheetLimits(max_rows=1000, max_cols=50, max_cells=200))
    assert "200" in exc.value.issues[0].message and exc.value.issues[0].sheet == "Sheet"
    with pytest.raises(InputError) as exc:
        read_workbook(("a\n" * 31).encode(), "many.csv", SheetLimits(max_rows=30))
    assert "30" in exc.value.issues[0].message


def test_a_zip_bomb_is_refused_before_parsing():
    """Sheet XML padded with 5 MB of blanks (compressing to a few KB) against a 1 MB limit; and a zip whose
    directory declares a 100 GB part."""
    padded = _patched(_xlsx(), "xl/worksheets/sheet1.xml",
                      lambda xml: xml.replace(b"</sheetData>", b" " * 5_000_000 + b"</sheetData>"))
    assert len(padded) < 100_000
    with pytest.raises(InputError) as exc:
        read_workbook(padded, "bomb.xlsx", SheetLimits(max_unzipped_bytes=1_000_000))
    assert "1,000,000" in exc.value.issues[0].message and exc.value.issues[0].file == "bomb.xlsx"
    with pytest.raises(InputError) as exc:
        read_workbook(_declared_size(_xlsx(), 100 * 2**30), "bomb.xlsx")
    assert "unpacks to" in exc.value.issues[0].message


def _declared_size(data: bytes, size: int) -> bytes:
    """The zip with the central directory's uncompressed size of its first part set to ``size`` (ZIP64-free:
    at most 4 GB - 1 per field, so several parts are set)."""
    buf = bytearray(data)
    pos = 0
    while (pos := buf.find(b"PK\x01\x02", pos)) != -1:
        buf[pos + 24:pos + 28] = min(size, 0xFFFFFFFE).to_bytes(4, "little")
        pos += 4
    return bytes(buf)


def _formula_book(formulas: dict[str, str], values: dict[str, object] | None = None) -> bytes:
    """A workbook whose formula cells have no saved value (as written by openpyxl or a script)."""
    wb = Workbook()
    ws = wb.active
    for ref, v in (values or {}).items():
        ws[ref] = v
    for ref, f in formulas.items():
        ws[ref] = f
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_formula_without_saved_value_is_evaluated_never_zero():
    data = _formula_book({"B2": "=200+100", "B3": "=SUM(B1:B2)*2-(-1)", "B4": "=B2/4", "B5": "=$B$1*10%"},
                         {"A1": "面积", "B1": 50})
    rows = read_workbook(data, "r.xlsx")["Sheet"].rows
    assert [r[1].value for r in rows[1:]] == [300, 701, 75, 5]


def test_a_formula_saved_with_its_value_reads_the_value():
    data = _patched(_formula_book({"A1": "=1+1"}), "xl/worksheets/sheet1.xml",
                    lambda xml: xml.replace(b"<f>1+1</f><v />", b"<f>1+1</f><v>7</v>"))
    assert read_workbook(data, "r.xlsx")["Sheet"].rows[0][0].value == 7


@pytest.mark.parametrize("formula", ["=VLOOKUP(A1,B1:C2,2)", "=Other!A1", "=1/0", "=A1+1", "=B1", "=(1+2", "=1e20",
                                     "=" + "(" * 3000 + "1" + ")" * 3000])
def test_a_formula_that_cannot_be_evaluated_is_refused_naming_the_cell(formula):
    data = _formula_book({"B1": formula if formula != "=B1" else "=B1"}, {"A1": "text"})
    with pytest.raises(InputError) as exc:
        read_workbook(data, "r.xlsx")
    (issue,) = exc.value.issues
    assert (issue.sheet, issue.row, issue.column) == ("Sheet", 1, "B") and formula[:60] in issue.message


HOSTILE_TEXT = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-1+1", "@SUM(A1)", "\tx", "'=already", "#N/A", "-5",
                "=1", "平常文本"]


def test_export_writes_text_as_text_and_the_round_trip_is_exact():
    wb = Workbook()
    wb.active.append(HOSTILE_TEXT + [-5, 2.5])
    data = workbook_bytes(wb)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b"<f>" not in z.read("xl/worksheets/sheet1.xml")  # no live formula
    row = read_workbook(data, "x.xlsx")["Sheet"].rows[0]
    assert [c.value for c in row] == HOSTILE_TEXT + [-5, 2.5]


def test_csv_export_quotes_formula_text_and_the_import_restores_it():
    buf = io.StringIO()
    csv.writer(buf).writerow([csv_cell(v) for v in HOSTILE_TEXT + [-5, 2.5, "-7.5"]])
    cells = next(csv.reader(io.StringIO(buf.getvalue())))
    assert all(not c.startswith(("=", "+", "@", "\t")) for c in cells)
    assert cells[2] == "'-1+1" and cells[-3:] == ["-5", "2.5", "-7.5"]  # numbers stay numbers
    row = read_workbook(buf.getvalue().encode(), "x.csv")["csv"].rows[0]
    assert [c.value for c in row] == HOSTILE_TEXT + ["-5", "2.5", "-7.5"]


@given(st.text(max_size=12))
def test_csv_quoting_round_trips_any_text(text):
    assert csv_unescape(csv_cell(text)) == text
