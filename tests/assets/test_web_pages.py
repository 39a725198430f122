"""Registry pages show labels, not codes, in the page language."""

from __future__ import annotations

import re

from tests.assets.test_heat_sources import row, workbook
from tests.helpers import bootstrap, login, make_client, token


def _text(html: str) -> str:
    main = html.split("<main>", 1)[1].split("</main>", 1)[0]
    return re.sub(r"<[^>]+>", " ", main.split("<script", 1)[0])


def test_heat_source_pages_show_unit_names_and_labels(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        files = {"file": ("r.xlsx", workbook([row("H1", owner="htjt")]), "application/octet-stream")}
        assert c.post("/api/assets/heat-sources/import", files=files, headers=token(c, "htjt")).status_code == 200
        login(c, "office")
        c.get("/lang/en")
        for path in ("/assets/sources", "/assets/sources/H1"):
            text = _text(c.get(path).text)
            assert "Daoli District" in text, path
            assert not re.search(r"\b(daoli|coal_boiler|in_service|urban)\b", text), path
        c.get("/lang/zh")
        text = _text(c.get("/assets/sources/H1").text)
        assert "道里区" in text and "daoli" not in text
