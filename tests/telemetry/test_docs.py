"""Every telemetry setting is documented in docs/telemetry.md, and the README shows how to connect a device."""

from pathlib import Path

from cleanheat.telemetry.config import TelemetryConfig

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "telemetry.md").read_text(encoding="utf-8")
    missing = [n for n in TelemetryConfig.model_fields if f"CLEANHEAT_TELEMETRY_{n.upper()}" not in doc]
    assert missing == []
    assert all(f.description for f in TelemetryConfig.model_fields.values())


def test_readme_connects_a_real_device():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    heading = next(ln for ln in readme.splitlines() if ln.startswith("## ") and "connect a real device" in ln.lower())
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    assert "mosquitto_pub" in section and "cleanheat/v1/htjt/" in section and "telemetry token issue" in section
