"""Hostile uploads to every upload endpoint (issue #10): spreadsheet dimension bombs, zip bombs, formula cells
without values, binary garbage named .xlsx/.csv/.geojson. Each is refused with a 4xx (an API) or an error shown
on the page (a redirect or a 4xx page), never a 500; the files are tiny and refused before they cost much."""

from __future__ import annotations

import io
import os
import re
import zipfile

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from cleanheat.web.app import all_routes, create_app
from tests.helpers import bootstrap, token


def _xlsx(formula: str | None = None) -> bytes:
    wb = Workbook()
    wb.active.append(["编码", "数值"])
    wb.active.append(["a", 1])
    if formula:
        wb.active["B3"] = formula
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rewrite(data: bytes, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            dst.writestr(item.filename, edit(body) if item.filename.endswith("sheet1.xml") else body)
    return out.getvalue()


def dimension_bomb() -> bytes:
    """Declares the whole sheet and puts one value in its last cell."""
    return _rewrite(_xlsx(), lambda xml: re.sub(rb'<dimension ref="[^"]+"/>', b'<dimension ref="A1:XFD1048576"/>', xml)
                    .replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'))


def zip_bomb() -> bytes:
    """Sheet XML padded with 300 MB of blanks would be 300 KB compressed; the directory declaring it is enough
    to be refused, so the test sets the declared sizes instead of building the bomb."""
    buf = bytearray(_xlsx())
    pos = 0
    while (pos := buf.find(b"PK\x01\x02", pos)) != -1:
        buf[pos + 24:pos + 28] = (0xFFFFFFF0).to_bytes(4, "little")
        pos += 4
    return bytes(buf)


HOSTILE = {
    "dimension_bomb.xlsx": dimension_bomb(),
    "zip_bomb.xlsx": zip_bomb(),
    "formula.xlsx": _xlsx("=VLOOKUP(A1,A1:B2,2)"),
    "garbage.xlsx": os.urandom(4096),
    "garbage.csv": os.urandom(4096),
    "garbage.geojson": os.urandom(4096),
    "truncated.xlsx": _xlsx()[:700],
}

#: (path, user, extra form fields) of every upload endpoint; the pages are called with a bearer token too
ENDPOINTS = [
    ("/api/assets/import", "htjt", {}),
    ("/assets/import", "htjt", {"kind": "stations"}),
    ("/api/assets/heat-sources/import", "office", {}),
    ("/assets/sources/import", "office", {}),
    ("/api/network/networks", "htjt", {}),
    ("/network/upload", "htjt", {}),
    ("/planner/areas/import", "office", {}),
    ("/api/programme/reports", "daoli", {}),
    ("/programme/reports/upload", "daoli", {}),
    ("/api/telemetry/backfill", "htjt", {}),
]


@pytest.fixture
def client(settings):
    bootstrap(settings)
    return TestClient(create_app(settings, background=False), raise_server_exceptions=False)


def test_every_upload_endpoint_is_covered(client):
    uploads = {r.path for r in all_routes(client.app) if "POST" in getattr(r, "methods", set())
               and any("UploadFile" in str(p.field_info.annotation) or p.name == "file"
                       for p in getattr(getattr(r, "dependant", None), "body_params", []))}
    assert uploads == {p for p, _, _ in ENDPOINTS}


@pytest.mark.parametrize("path, user, fields", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_hostile_files_are_refused_never_a_server_error(client, path, user, fields):
    auth = token(client, user)
    results = {}
    for name, data in HOSTILE.items():
        r = client.post(path, files={"file": (name, data)}, data=fields, headers=auth, follow_redirects=False)
        results[name] = r.status_code
        if path.startswith("/api/"):
            assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:300])
        else:
            assert r.status_code in (303, 400, 413, 422), (name, r.status_code, r.text[:300])
    assert results  # every file was sent


@pytest.mark.parametrize("name", ["dimension_bomb.xlsx", "formula.xlsx", "zip_bomb.xlsx"])
def test_the_refusal_says_what_and_where(client, name):
    r = client.post("/api/assets/import", files={"file": (name, HOSTILE[name])}, headers=token(client, "htjt"))
    assert r.status_code == 422
    text = str(r.json())
    expected = {"dimension_bomb.xlsx": "rows", "formula.xlsx": "VLOOKUP", "zip_bomb.xlsx": "unpacks to"}[name]
    assert expected in text and name in text
