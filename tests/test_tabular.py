"""Spreadsheet reading: damaged files give a located input error, never a crash; GBK CSV is accepted."""

import io
import zipfile

import pytest
from openpyxl import Workbook

from cleanheat.errors import InputError
from cleanheat.store.text import storable_text
from cleanheat.tabular import read_workbook


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
