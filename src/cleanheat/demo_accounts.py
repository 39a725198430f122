"""The demo logins created by ``cleanheat init --demo`` (synthetic demo city only).

The password is the same for every demo account: ``CLEANHEAT_DEMO_PASSWORD`` or, by default, ``demo-harbin-2019``.
Never run a production installation with ``--demo``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.auth import service as auth_service
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import User


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    org_code: str
    display_name: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("admin", "admin", "platform", "平台管理员"),
    DemoAccount("office", "programme_office", "office", "清洁取暖办公室"),
    DemoAccount("daoli", "reporting_unit", "gov-daoli", "道里区填报员"),
    DemoAccount("binxian", "reporting_unit", "gov-binxian", "宾县填报员"),
    DemoAccount("htjt", "heat_company", "htjt", "哈投集团供热公司"),
    DemoAccount("eeb", "ecology_bureau", "hrb-eeb", "生态环境局"),
    # Created by the demo city (twin/demo.py) together with its organisation; listed here for `demo-logins`.
    DemoAccount("resident", "resident", "htjt-residents", "演示居民 王女士"),
)


def demo_password() -> str:
    return os.environ.get("CLEANHEAT_DEMO_PASSWORD", "demo-harbin-2019")


def ensure_demo_accounts(session: Session, extra: tuple[DemoAccount, ...] = ()) -> int:
    """Create the demo accounts that do not exist yet; returns how many were created."""
    from cleanheat.auth.tables import Organisation

    created = 0
    for acc in DEMO_ACCOUNTS + extra:
        if session.scalar(select(Organisation).where(Organisation.code == acc.org_code)) is None:
            continue  # its organisation comes with a later demo (e.g. the residents of the demo city)
        if session.scalar(select(User).where(User.username == acc.username)) is None:
            auth_service.create_user(session, Actor.system("demo"), username=acc.username, password=demo_password(),
                                     role=acc.role, org_code=acc.org_code, display_name=acc.display_name)
            created += 1
    return created
