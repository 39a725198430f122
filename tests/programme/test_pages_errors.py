"""Error pages: HTML with the menu and a translated explanation for pages; JSON for the API."""

from __future__ import annotations

import pytest

from tests.helpers import login, token


@pytest.mark.parametrize("path", ["/programme/overview?year=abc", "/planner/compare?ids=abc",
                                  "/emissions/points/1?days=abc"])
def test_bad_query_value_renders_error_page(client, path):
    login(client, "admin")
    client.get("/lang/en")
    r = client.get(path)
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), (path, r.text[:200])
    assert "Invalid input" in r.text and "please check it" in r.text and "abc" in r.text
    assert '<nav class="main">' in r.text  # the menu, since someone is logged in


def test_not_found_page_has_menu_and_language(client):
    login(client, "office")
    r = client.get("/programme/units/nowhere")
    assert r.status_code == 404 and '<nav class="main">' in r.text and "不存在" in r.text
    client.get("/lang/en")
    assert "does not exist" in client.get("/programme/units/nowhere").text


def test_api_errors_stay_json(client):
    r = client.get("/api/programme/overview?year=abc", headers=token(client, "office"))
    assert r.status_code in (404, 422) and r.headers["content-type"].startswith("application/json")
