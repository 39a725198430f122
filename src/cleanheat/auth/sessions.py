"""Server-side login sessions (``auth_sessions``): the cookie holds a random id, the row holds the rest.

Functions take the caller's session and never commit. Expiry slides: each use (at most once a minute) moves
``expires_at`` to ``last_seen_at`` + the lifetime; revoked or expired rows authenticate nobody.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cleanheat.auth.tables import AuthSession, User

#: ``last_seen_at`` is written at most this often per session (every request would be a write).
TOUCH_EVERY = timedelta(seconds=60)
#: Revoked and expired rows are kept this long (the owner sees recently ended sessions), then deleted.
KEEP_ENDED = timedelta(days=1)


def new_sid() -> str:
    return secrets.token_urlsafe(32)


def sid_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def load_with_user(session: Session, sid: str, now: datetime) -> tuple[AuthSession, User | None] | None:
    """The live session with cookie value ``sid`` (None when unknown, revoked or expired) and its user with their
    organisation, in one query (the user None when disabled): what every request of a logged-in user needs
    first."""
    found = session.execute(select(AuthSession, User).join(User, User.id == AuthSession.user_id)
                            .where(AuthSession.sid_hash == sid_digest(sid))).first()  # + the organisation, joined
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.expires_at <= now:
        return None
    return row, (user if user.is_active else None)


def touch(session: Session, row: AuthSession, now: datetime, max_age_s: int) -> bool:
    """Slide the expiry of ``row`` when it was last seen over a minute ago; True when written."""
    if now - row.last_seen_at < TOUCH_EVERY:
        return False
    row.last_seen_at, row.expires_at = now, now + timedelta(seconds=max_age_s)
    return True


def create(session: Session, *, user_id: int, data: dict, now: datetime, max_age_s: int,
           user_agent: str = "", address: str = "") -> tuple[str, AuthSession]:
    """A new session for ``user_id``; returns the cookie value (never stored) and the row."""
    sid = new_sid()
    row = AuthSession(sid_hash=sid_digest(sid), user_id=user_id, data=data, created_at=now, last_seen_at=now,
                      expires_at=now + timedelta(seconds=max_age_s), user_agent=user_agent[:300],
                      address=address[:64])
    session.add(row)
    session.flush()
    return sid, row


def save_data(session: Session, session_id: int, data: dict) -> None:
    session.execute(update(AuthSession).where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
                    .values(data=data).execution_options(synchronize_session=False))


def revoke(session: Session, session_id: int, now: datetime) -> None:
    session.execute(update(AuthSession).where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
                    .values(revoked_at=now).execution_options(synchronize_session=False))


def revoke_all(session: Session, user_id: int, now: datetime) -> int:
    """End every live session of ``user_id``; returns how many."""
    return session.execute(update(AuthSession).where(AuthSession.user_id == user_id,
                                                     AuthSession.revoked_at.is_(None),
                                                     AuthSession.expires_at > now)
                           .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount


def list_live(session: Session, user_id: int, now: datetime) -> list[AuthSession]:
    return list(session.scalars(select(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now,
    ).order_by(AuthSession.last_seen_at.desc())))


def cleanup(session: Session, now: datetime) -> int:
    """Delete sessions that ended (expired or revoked) more than ``KEEP_ENDED`` ago."""
    cutoff = now - KEEP_ENDED
    return session.execute(delete(AuthSession).where(
        (AuthSession.expires_at < cutoff) | (AuthSession.revoked_at < cutoff))).rowcount
