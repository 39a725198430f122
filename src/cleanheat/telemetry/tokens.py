"""Ingest tokens of devices: one per device, or one per heat company for all its devices (a gateway).

The clear token (``chd_...``) is returned once; only its SHA-256 is stored.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import Device
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit, get_org_by_code
from cleanheat.errors import InputError, InputIssue, NotFoundError
from cleanheat.store.base import utcnow
from cleanheat.telemetry.tables import DeviceToken
from cleanheat.telemetry.validation import token_digest

TOKEN_PREFIX = "chd_"


def issue_device_token(session: Session, actor: Actor, *, device_code: str | None = None,
                       org_code: str | None = None, name: str = "", max_age_days: int | None = None) -> str:
    """A new ingest token for ``device_code`` or, without it, for every device of ``org_code``."""
    actor.require_roles(Role.HEAT_COMPANY)
    device = None
    if device_code:
        device = session.scalar(select(Device).where(Device.code == device_code))
        if device is None or not actor.can_access_org(device.org_id):
            raise NotFoundError(f"device {device_code!r} not found")
        org_id = device.org_id
    else:
        code = org_code or actor.org_code
        if not code:
            raise InputError("give a device or an organisation", [InputIssue("device or org", field="device")])
        org = get_org_by_code(session, code)
        actor.require_org(org.id)
        org_id = org.id
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = DeviceToken(org_id=org_id, device_id=device.id if device else None, name=name or (device_code or "org"),
                      token_hash=token_digest(token), prefix=token[:10],
                      expires_at=utcnow() + timedelta(days=max_age_days) if max_age_days else None)
    session.add(row)
    session.flush()
    audit(session, actor, "issue", "device_token", row.id,
          {"device": device_code, "org_id": org_id, "name": row.name})
    return token


def list_device_tokens(session: Session, actor: Actor) -> list[DeviceToken]:
    actor.require_roles(Role.HEAT_COMPANY)
    q = select(DeviceToken).order_by(DeviceToken.id.desc())
    if not actor.city_wide:
        q = q.where(DeviceToken.org_id == actor.org_id)
    return list(session.scalars(q))


def revoke_device_token(session: Session, actor: Actor, token_id: int) -> DeviceToken:
    row = session.get(DeviceToken, token_id)
    if row is None or not actor.can_access_org(row.org_id):
        raise NotFoundError(f"token {token_id} not found")
    actor.require_roles(Role.HEAT_COMPANY)
    row.revoked = True
    audit(session, actor, "revoke", "device_token", row.id)
    return row
