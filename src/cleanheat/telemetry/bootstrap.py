"""Reference data of the telemetry area at ``cleanheat init``: the default alarm rules (data, with sources)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.telemetry.alarms import load_default_rules

ORDER = 50


def load_reference(session: Session, settings: Settings) -> str:
    n = load_default_rules(session, Actor.system("init"), settings.data_dir)
    return f"alarm rules: {n} created or updated"
