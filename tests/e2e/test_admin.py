"""Real browser (issue 12 item 7): an administrator edits a user's role and organisation, resets a password (the
user must change it at the next login, on /account), disables a user (whose session ends), links a resident to a
household, and reads, filters, pages and exports the audit log."""

import io
from pathlib import Path

from openpyxl import load_workbook

from cleanheat.assets import service as assets
from cleanheat.assets.schemas import BuildingIn, HouseholdIn, NetworkIn, StationIn
from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import OrgKind
from cleanheat.auth.service import Actor
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.helpers import PASSWORD

SHOTS = Path("/tmp/shots-daily2")
NEW_PASSWORD = "Songhua-river-frozen-7"
CHOSEN = "Harbin-ice-lantern-42"


def _seed(settings) -> None:
    eng = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        sys_ = Actor.system("test")
        assets.upsert(s, sys_, "networks", NetworkIn(code="N1", name_zh="一号热网", org_code="htjt"))
        assets.upsert(s, sys_, "stations", StationIn(code="S1", name_zh="一号站", org_code="htjt", network_code="N1",
                                                     design_load_kw=3000, served_area_m2=60000))
        assets.upsert(s, sys_, "buildings", BuildingIn(code="B1", name_zh="1号楼", org_code="htjt", station_code="S1",
                                                       area_m2=6000))
        assets.upsert(s, sys_, "households", HouseholdIn(code="H-0101", building_code="B1", org_code="htjt",
                                                         area_m2=80, account_no="A-0101"))
        for i in range(60):  # enough audit entries for a second page
            assets.upsert(s, sys_, "households", HouseholdIn(code=f"H-{i + 200:04d}", building_code="B1",
                                                             org_code="htjt", area_m2=70, account_no=f"A-{i + 200}"))
        auth_service.upsert_org(s, sys_, code="htjt-residents", name_zh="哈投集团居民", kind=OrgKind.RESIDENTS)
        auth_service.create_user(s, sys_, username="zhangsan", password=PASSWORD, role="resident",
                                 org_code="htjt-residents")
    eng.dispose()


def _login(page, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _row(page, username: str):
    return page.locator(f"#users-table tr[data-user='{username}']")


def test_administration(live_app, page, browser):
    _seed(live_app.settings)
    SHOTS.mkdir(exist_ok=True)
    url = live_app.url
    other = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    user_page = other.new_page()
    try:
        page.set_viewport_size({"width": 1366, "height": 900})
        _login(page, url, "admin")
        page.goto(f"{url}/admin/users")

        # edit role and organisation: veolia becomes a reporting unit of its company; daoli cannot be an admin
        row = _row(page, "veolia")
        row.locator("details.edit-user summary").click()
        row.locator("details.edit-user select[name=role]").select_option("reporting_unit")
        row.locator("details.edit-user input[name=display_name]").fill("威立雅 填报员")
        with page.expect_navigation():
            row.locator("details.edit-user button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        assert "已修改用户" in page.locator(".flash").inner_text()
        assert "区县填报单位" in _row(page, "veolia").inner_text() or "填报" in _row(page, "veolia").inner_text()
        row = _row(page, "daoli")
        row.locator("details.edit-user summary").click()
        row.locator("details.edit-user select[name=role]").select_option("admin")
        with page.expect_navigation():
            row.locator("details.edit-user button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        flash = page.locator(".flash").inner_text()
        assert "未修改" in flash and "不能担任该角色" in flash and "field" not in flash

        # disable a user: their open session ends
        _login(user_page, url, "binxian")
        user_page.goto(f"{url}/programme/overview")
        assert "/login" not in user_page.url
        with page.expect_navigation():
            _row(page, "binxian").locator("form[action$='/active'] button").click()
        page.wait_for_load_state("networkidle")
        assert "停用" in _row(page, "binxian").locator("td").nth(5).inner_text()
        user_page.goto(f"{url}/programme/overview")
        assert "/login" in user_page.url

        # reset a password: the user must change it at the next login, on the account page
        row = _row(page, "nangang")
        row.locator("details:has(form[action$='/password']) summary").click()
        row.locator("form[action$='/password'] input[name=password]").fill(NEW_PASSWORD)
        with page.expect_navigation():
            row.locator("form[action$='/password'] button").click()
        page.wait_for_load_state("networkidle")
        assert "待修改密码" in _row(page, "nangang").inner_text()
        user_page.context.clear_cookies()
        _login(user_page, url, "nangang", NEW_PASSWORD)
        assert user_page.url.endswith("/account/password")
        user_page.fill("#current_password", NEW_PASSWORD)
        user_page.fill("#new_password", CHOSEN)
        user_page.fill("#new_password2", CHOSEN)
        with user_page.expect_navigation():
            user_page.click("form[action='/account/password'] button[type=submit]")
        user_page.wait_for_load_state("networkidle")
        assert user_page.url.endswith("/account") and "密码已修改" in user_page.content()

        # link a resident to a household; the resident's /me page shows it
        row = _row(page, "zhangsan")
        row.locator("details.link-household summary").click()
        row.locator("details.link-household input[name=household]").fill("H-0101")
        with page.expect_navigation():
            row.locator("details.link-household button").click()
        page.wait_for_load_state("networkidle")
        assert _row(page, "zhangsan").locator("code.household").inner_text() == "H-0101"
        page.screenshot(path=str(SHOTS / "admin-users-1366.png"), full_page=True)
        user_page.context.clear_cookies()
        _login(user_page, url, "zhangsan")
        user_page.goto(f"{url}/me")
        assert "1号楼" in user_page.locator("h1").inner_text() and "尚未关联住户" not in user_page.content()

        # the audit log: who, which object, what changed; filtered, paged, exported
        page.goto(f"{url}/admin/audit")
        assert page.locator("#audit-pager").count() == 1  # more than one page
        with page.expect_navigation():
            page.click("#audit-pager a[rel=next]")
        page.wait_for_load_state("networkidle")
        assert "page=2" in page.url and page.locator("#audit-table tbody tr").count() > 0
        page.goto(f"{url}/admin/audit")
        page.select_option("#audit-filter select[name=who]", "admin")
        page.select_option("#audit-filter select[name=action]", "update")
        with page.expect_navigation():
            page.click("#audit-filter button[type=submit]")
        page.wait_for_load_state("networkidle")
        rows = page.locator("#audit-table tbody tr")
        assert rows.count() == 1
        changes = rows.first.locator("td.changes").inner_text()
        assert "role" in changes and "heat_company" in changes and "reporting_unit" in changes
        assert "威立雅 填报员" in changes
        page.screenshot(path=str(SHOTS / "admin-audit-1366.png"), full_page=True)
        with page.expect_download() as dl:
            page.click("#audit-export")
        ws = load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes())).active
        data = [r for r in ws.iter_rows(min_row=2, values_only=True)]
        assert len(data) == 1 and data[0][1] == "admin" and data[0][2] == "update" and "reporting_unit" in data[0][6]
        # the export itself is audited
        page.goto(f"{url}/admin/audit?action=export")
        assert page.locator("#audit-table tbody tr").count() == 1
    finally:
        other.close()
