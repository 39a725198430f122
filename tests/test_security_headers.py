"""Security headers and script hygiene (issue #10, defect 1).

Every response carries a Content-Security-Policy that forbids inline script; templates and rendered pages
contain no inline script code, no inline event handlers and no ``javascript:`` URLs (page code lives in
``/static/js``, server data travels in ``<script type="application/json">`` blocks)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from cleanheat.web.security_headers import COMMON_HEADERS, PAGE_POLICY
from tests.helpers import TEST_USERS, bootstrap, login, make_client

WEB = Path(__file__).resolve().parents[1] / "src" / "cleanheat" / "web"
TEMPLATES = sorted((WEB / "templates").rglob("*.html"))
#: the project's own page scripts (vendored libraries are not ours to scan)
SCRIPTS = sorted(p for p in (WEB / "static").rglob("*.js") if "vendor" not in p.parts)

_JINJA = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", re.S)
_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_TAG = re.compile(r"<[a-zA-Z][^<>]*>", re.S)
_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.I)


def script_problems(html: str) -> list[str]:
    """Inline script code, inline handlers and ``javascript:`` URLs in ``html`` (a template or a page)."""
    problems = []
    for m in _SCRIPT_TAG.finditer(html):
        attrs, body = m.group(1), m.group(2)
        if re.search(r"\bsrc\s*=", attrs):
            if body.strip():
                problems.append(f"script with src and a body: {m.group(0)[:80]}")
        elif not re.search(r"""\btype\s*=\s*["']application/json["']""", attrs):
            problems.append(f"inline script: {m.group(0)[:80]}")
    for tag in _TAG.findall(_SCRIPT_TAG.sub("", html)):
        if _HANDLER.search(tag):
            problems.append(f"inline event handler: {tag[:120]}")
        if re.search(r"javascript\s*:", tag, re.I):
            problems.append(f"javascript: URL: {tag[:120]}")
    return problems


def test_the_scanner_finds_what_it_looks_for():
    bad = ('<script>alert(1)</script><a href="javascript:go()">x</a><button onclick="x()">b</button>'
           '<form class="f"\n onsubmit="return confirm(1)"><div hx-on:click="x"></div>')
    assert len(script_problems(bad)) == 5
    good = ('<script src="/static/js/a.js"></script><script type="application/json" id="d">{"a": 1}</script>'
            '<form data-confirm="sure?" action="/x"><select data-period-picker></select></form>')
    assert script_problems(good) == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(WEB / "templates")))
def test_templates_have_no_inline_script(path: Path):
    text = path.read_text(encoding="utf-8")
    assert script_problems(_JINJA.sub("", text)) == []
    assert "|safe" not in text.replace(" ", ""), "no |safe: escape, or pass data with |tojson"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_page_scripts_do_not_eval(path: Path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\beval\s*\(|new Function\s*\(|insertAdjacentHTML|document\.write", text)
    # innerHTML is only ever given escaped text (this codebase uses textContent / DOM nodes instead)
    assert not re.search(r"\.(inner|outer)HTML\s*\+?=", text)


def _pages_for(app, role: str, org: str) -> list[str]:
    """The menu's pages for a user (``{unit}`` entries: a government's own unit, ``gov-<unit>`` in TEST_USERS)."""
    from cleanheat.auth.roles import Role

    unit = org.removeprefix("gov-") if org.startswith("gov-") else None
    items = [n.for_unit(unit) for n in app.state.nav if n.visible_to(Role(role))]
    return [n.path for n in items if n is not None]


def _assert_headers(r, policy: str = PAGE_POLICY) -> None:
    assert r.headers.get("content-security-policy") == policy, r.request.url
    for name, value in COMMON_HEADERS.items():
        assert r.headers.get(name) == value, (r.request.url, name)


def test_every_page_carries_the_policy_and_runs_no_inline_script(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        r = c.get("/login")
        assert r.status_code == 200
        _assert_headers(r)
        assert script_problems(r.text) == []
        _assert_headers(c.get("/static/js/common.js"))
        _assert_headers(c.get("/api/openapi.json"))
        _assert_headers(c.get("/programme/overview", follow_redirects=False))  # the redirect to /login too
        seen = 0
        for user, (role, org) in TEST_USERS.items():
            login(c, user)
            for path in _pages_for(c.app, role, org):
                r = c.get(path)
                assert r.status_code == 200, (user, path, r.status_code)
                _assert_headers(r)
                assert r.headers["content-type"].startswith("text/html")
                assert script_problems(r.text) == [], (user, path)
                seen += 1
            missing = c.get("/network/999999")  # an error page (404, or 403 for roles without networks)
            assert missing.status_code in (403, 404) and script_problems(missing.text) == []
            _assert_headers(missing)
            c.post("/logout", data={"csrf_token": re.search(r'"X-CSRF-Token": "([^"]+)"', r.text).group(1)})
        assert seen > 20


def test_api_docs_get_their_own_policy_with_the_inline_script_hashed(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        r = c.get("/api/docs")
        assert r.status_code == 200
        policy = r.headers["content-security-policy"]
        inline = re.findall(r"<script>(.*?)</script>", r.text, re.S)
        assert len(inline) == 1
        digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert int(r.headers["content-length"]) == len(r.content)
        for name, value in COMMON_HEADERS.items():
            assert r.headers.get(name) == value
