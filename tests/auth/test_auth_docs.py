"""The auth settings and the demo password stay documented."""

from pathlib import Path

from cleanheat.auth.config import AuthConfig
from cleanheat.auth.policy import check_password, load_policy
from cleanheat.demo_accounts import demo_password

ROOT = Path(__file__).resolve().parents[2]


def test_every_auth_setting_is_documented():
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name, field in AuthConfig.model_fields.items():
        assert f"`CLEANHEAT_AUTH_{name.upper()}`" in doc, f"document CLEANHEAT_AUTH_{name.upper()} in docs/settings.md"
        assert field.description


def test_the_documented_demo_password_passes_the_policy():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"password `{demo_password()}`" in readme
    for name in ("admin", "office", "daoli", "binxian", "htjt", "eeb", "resident"):
        assert check_password(load_policy(), demo_password(), name) == []
