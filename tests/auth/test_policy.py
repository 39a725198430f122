"""Issue #10 item 9: the password policy (length 10, common, repeated, sequences, username) and its messages."""

import pytest
import yaml

from cleanheat.auth import service
from cleanheat.auth.policy import DATA_DIR, WeakPasswordError, check_password, enforce_password, load_policy
from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from tests.auth.conftest import configure  # noqa: F401
from tests.helpers import PASSWORD, bootstrap, login


@pytest.mark.parametrize("password, english", [
    ("12345678", "at least 10 characters"),
    ("admin123", "at least 10 characters"),
    ("password2024!", "common password"),
    ("Qwertyuiop", "common password"),
    ("woaini1314520", "common password"),
    ("aaaaaaaaaaaa", "repeated characters"),
    ("abcdabcdabcd", "repeated characters"),
    ("1212121212", "repeated characters"),
    ("0987654321", "simple sequence"),
    ("abcdefghijk", "simple sequence"),
    ("asdfghjkl;'", "simple sequence"),
    ("office2024", "must not be the username"),
])
def test_weak_passwords_are_refused_with_the_rule_they_break(password, english):
    problems = check_password(load_policy(), password, username="office")
    assert any(english in en for _zh, en in problems), problems
    assert all(zh and en for zh, en in problems)  # bilingual messages
    with pytest.raises(WeakPasswordError) as exc:
        enforce_password(password, "office")
    assert exc.value.issues and all(i.field == "password" for i in exc.value.issues)


@pytest.mark.parametrize("password", ["test-password-1", "demo-harbin-2019", "Songhua-river-in-winter",
                                      "雪花啤酒冰灯节2020"])
def test_reasonable_passwords_pass(password):
    assert check_password(load_policy(), password, username="office") == []


def test_policy_is_data_with_its_source():
    raw = yaml.safe_load((DATA_DIR / "password_policy.yaml").read_text(encoding="utf-8"))
    common = yaml.safe_load((DATA_DIR / "common_passwords.yaml").read_text(encoding="utf-8"))
    assert raw["min_length"] == 10 and "NIST" in raw["source"] and raw["valid_from"]
    assert common["source"] and len(common["passwords"]) > 100
    assert load_policy().min_length == raw["min_length"]


def test_services_refuse_weak_passwords(settings, session_factory):
    bootstrap(settings)
    with session_scope(session_factory) as s:
        with pytest.raises(WeakPasswordError, match="at least 10 characters"):
            service.create_user(s, Actor.system(), username="weak", password="12345678", role="reporting_unit",
                                org_code="gov-acheng")
        with pytest.raises(WeakPasswordError, match="common password"):
            service.set_password(s, Actor.system(), "daoli", "admin123456")


def test_admin_form_shows_why_a_password_was_refused(app_client):
    csrf = login(app_client, "admin")
    r = app_client.post("/admin/users", data={"csrf_token": csrf, "username": "newbie", "password": "admin123",
                                              "role": "reporting_unit", "org_code": "gov-acheng"})
    assert r.status_code == 200
    assert "创建失败" in r.text and "密码至少需要 10 个字符" in r.text and "common password" in r.text
    assert "newbie" not in r.text.split("<tbody>", 2)[-1]  # not in the users table


def test_own_password_change_is_checked_against_the_policy(app_client):
    csrf = login(app_client, "office")
    r = app_client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                    "new_password": "1234567890", "new_password2": "1234567890"})
    assert r.status_code == 422
    assert "简单的字符序列" in r.text and "simple sequence" in r.text
    r = app_client.post("/account/password", data={"csrf_token": csrf, "current_password": "not-the-password",
                                                    "new_password": "Songhua-river-1",
                                                    "new_password2": "Songhua-river-1"})
    assert r.status_code == 422 and "current password is wrong" in r.text
