"""Real browser: every upload form shows its refusal visibly (issue 12.1), whatever the number of issues.

Forms: the programme's quarterly report, the heat-source import, the network upload, the asset-registry import and
the planner's area import. A refused upload redirects back to its page with the message kept on the server (the
session row, not the cookie), so the message and every issue arrive; a file over the upload limit is refused on
the page before it is sent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cleanheat.config import Settings
from cleanheat.programme.plan_data import read_plan
from cleanheat.programme.reports_io import parse_report
from tests.e2e.conftest import LiveApp, serve, shot
from tests.e2e.test_programme import _seed_q3
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit

ROOT = Path(__file__).resolve().parents[2]
AREAS_CSV = ROOT / "data" / "planner" / "harbin_areas_synthetic.csv"
GOERLITZ = ROOT / "data" / "networks" / "goerlitz" / "network-sized.geojson"
#: the upload limit of these tests' server [bytes]: small, so a file over it is quick to make
LIMIT = 400_000


@pytest.fixture
def small_limit_app(e2e_settings: Settings):
    settings = e2e_settings.model_copy(update={"upload_max_bytes": LIMIT})
    server, thread, url = serve(settings)
    yield LiveApp(settings, url)
    server.should_exit = True
    thread.join(timeout=10)


def _upload(page, url: str, form: str, path: Path) -> None:
    page.goto(url)
    page.set_input_files(f"{form} input[type=file]", str(path))
    page.click(f"{form} button[type=submit]")
    page.wait_for_load_state("networkidle")


def _refusal(page) -> str:
    box = page.locator("#flash.error")
    box.wait_for(state="visible", timeout=15_000)
    assert box.is_visible() and box.bounding_box()["height"] > 20
    return box.inner_text()


def _too_large(page, url: str, form: str, tmp_path: Path) -> None:
    """A file over the limit: refused beside the field before anything is sent; the page stays."""
    big = tmp_path / "big-file.xlsx"
    big.write_bytes(b"x" * (LIMIT + 1000))
    _upload(page, url, form, big)
    note = page.locator(f"{form} .upload-refused")
    note.wait_for(state="visible", timeout=10_000)
    assert "big-file.xlsx" in note.inner_text() and "超过上限" in note.inner_text()
    assert page.url == url
    shot(page, "upload-too-large-" + url.rstrip("/").rsplit("/", 1)[-1])


def _report_in_m2(plan) -> bytes:
    """Every area cell of Daoli's report typed in m² instead of 万m² (the most common mistake)."""
    areas = {(at, t.code): 1500 * 10_000 for at in plan.unit("daoli").area_types for t in plan.technologies}
    return fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=areas)


def test_quarterly_report_refusals(small_limit_app, page, login_as, tmp_path):
    app, url = small_limit_app, f"{small_limit_app.url}/programme/reports"
    plan = read_plan(app.settings.city_dir)
    m2 = tmp_path / "道里区-2020Q4-m2.xlsx"
    m2.write_bytes(_report_in_m2(plan))
    with pytest.raises(Exception) as refused:  # the issues the page must list, every one
        parse_report(m2.read_bytes(), m2.name, plan, {"gov-daoli": reporter_for_unit(plan, "daoli")})
    expected = [str(i) for i in refused.value.issues]
    assert len(expected) >= 30 and sum(map(len, expected)) > 4000
    login_as(app.url, "daoli")

    _upload(page, url, "#upload-form", m2)
    text = _refusal(page)
    assert "未导入任何数据" in text and f"共 {len(expected)} 处问题" in text
    items = page.locator("#flash-issues li")
    assert items.all_inner_texts() == expected
    items.last.scroll_into_view_if_needed()
    assert items.last.is_visible() and items.last.inner_text() == expected[-1]
    assert "是否误填为平方米" in text
    shot(page, "upload-refused-report-m2")
    with page.expect_download() as dl:
        page.click("#flash [data-download-list]")
    saved = Path(dl.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert saved[2:] == expected and "未导入任何数据" in saved[0]

    wrong = tmp_path / "network.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    _upload(page, url, "#upload-form", wrong)
    assert "未导入任何数据" in _refusal(page)

    other = tmp_path / "南岗区-2020Q4.xlsx"
    other.write_bytes(fill_template(plan, reporter_for_unit(plan, "nangang"), "2020Q4", areas=DAOLI_AREAS))
    _upload(page, url, "#upload-form", other)
    assert "只能提交本单位的报表" in _refusal(page)

    _seed_q3(app.settings)  # Daoli's 2020Q3 is accepted: a second one needs to be a correction
    again = tmp_path / "道里区-2020Q3.xlsx"
    again.write_bytes(fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q3", areas=DAOLI_AREAS))
    _upload(page, url, "#upload-form", again)
    assert "已被接受" in _refusal(page) and "更正" in page.locator("#flash-issues").inner_text()

    _too_large(page, url, "#upload-form", tmp_path)
    page.set_viewport_size({"width": 375, "height": 800})
    _upload(page, url, "#upload-form", m2)
    assert f"共 {len(expected)} 处问题" in _refusal(page)
    shot(page, "upload-refused-report-m2-375")


def test_heat_source_and_registry_imports_refused(small_limit_app, page, login_as, tmp_path):
    app = small_limit_app
    bad = tmp_path / "sources.csv"
    bad.write_text("code,name_zh,capacity_t_h\nHS-X,测试锅炉,很大\n", encoding="utf-8")
    login_as(app.url, "htjt")
    sources = f"{app.url}/assets/sources"
    _upload(page, sources, "form[action='/assets/sources/import']", bad)
    assert "导入失败，未导入任何数据" in _refusal(page)
    assert page.locator("#flash-issues li").count() >= 1
    shot(page, "upload-refused-heat-sources")
    _too_large(page, sources, "form[action='/assets/sources/import']", tmp_path)

    registry = f"{app.url}/assets"
    junk = tmp_path / "stations.csv"
    junk.write_text("code,name_zh,design_load_kw\nST-X,,abc\n", encoding="utf-8")
    _upload(page, registry, "form[action='/assets/import']", junk)
    assert "导入失败，未写入任何数据" in _refusal(page)
    shot(page, "upload-refused-registry")
    _too_large(page, registry, "form[action='/assets/import']", tmp_path)


def test_network_upload_refused(small_limit_app, page, login_as, tmp_path):
    app, url = small_limit_app, f"{small_limit_app.url}/network"
    login_as(app.url, "htjt")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None,
                                                                            "properties": {}}]}), encoding="utf-8")
    _upload(page, url, "#upload-form", wrong)
    assert "导入失败，未保存任何数据" in _refusal(page)
    shot(page, "upload-refused-network")
    not_json = tmp_path / "report.json"
    not_json.write_bytes(b"PK\x03\x04 this is a spreadsheet")
    _upload(page, url, "#upload-form", not_json)
    assert "导入失败，未保存任何数据" in _refusal(page)
    for expect_ok in (True, False):  # the same name twice: the second is refused
        page.goto(url)
        page.fill("#name", "重名测试")
        page.set_input_files("#upload-form input[type=file]", str(GOERLITZ))
        page.click("#upload-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        if expect_ok:
            page.locator("#flash.ok").wait_for(state="visible", timeout=60_000)
        else:
            assert "已有同名管网" in _refusal(page)
    _too_large(page, url, "#upload-form", tmp_path)


def test_planner_area_import_refused(small_limit_app, page, login_as, tmp_path):
    app, url = small_limit_app, f"{small_limit_app.url}/planner"
    login_as(app.url, "office")
    bad = tmp_path / "areas.csv"
    bad.write_text("code,name\nX1,无面积\n", encoding="utf-8")
    _upload(page, url, "form[action='/planner/areas/import']", bad)
    assert _refusal(page).strip()
    shot(page, "upload-refused-planner")
    good = tmp_path / "areas-ok.csv"
    shutil.copyfile(AREAS_CSV, good)
    for expect_ok in (True, False):  # the same name twice: the second is refused
        page.goto(url)
        page.fill("#area-name", "测试区域")
        page.set_input_files("#area-file", str(good))
        page.click("form[action='/planner/areas/import'] button[type=submit]")
        page.wait_for_load_state("networkidle")
        if expect_ok:
            page.locator("#flash.ok").wait_for(state="visible", timeout=15_000)
        else:
            assert "已有同名的区域集" in _refusal(page)
    _too_large(page, url, "form[action='/planner/areas/import']", tmp_path)
