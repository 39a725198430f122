"""Login throttling: exponential back-off per account and per client address, and account lockout.

The state lives in ``auth_login_failures`` (so it holds across web processes). ``backoff_s`` is the pure rule;
the other functions read and write the table in the caller's session (the login use case commits them at once,
see ``auth.login``). Account keys are lower-case usernames, whether or not such a user exists, so the answers do
not tell which usernames exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cleanheat.auth.config import AuthConfig
from cleanheat.auth.tables import LoginFailure

ACCOUNT, ADDRESS = "account", "address"


@dataclass(frozen=True)
class Verdict:
    """Whether a login attempt may be verified now; if not, until when (or locked until an admin unlocks)."""

    allowed: bool
    locked: bool = False
    retry_at: datetime | None = None

    def retry_after_s(self, now: datetime) -> int:
        return max(1, math.ceil((self.retry_at - now).total_seconds())) if self.retry_at else 0


def backoff_s(failures: int, free: int, config: AuthConfig) -> float:
    """Wait [s] after ``failures`` consecutive failures: none for the first ``free``, then ``backoff_base_s``
    doubling with each further failure, at most ``backoff_max_s``."""
    if failures < free:
        return 0.0
    return min(config.backoff_base_s * 2.0 ** min(failures - free, 60), config.backoff_max_s)


def account_key(username: str) -> str:
    return username.strip().lower()[:128]


def _rows(session: Session, username: str, address: str) -> list[LoginFailure]:
    return list(session.scalars(select(LoginFailure).where(
        ((LoginFailure.kind == ACCOUNT) & (LoginFailure.key == account_key(username)))
        | ((LoginFailure.kind == ADDRESS) & (LoginFailure.key == address[:128])))))


def check(session: Session, config: AuthConfig, username: str, address: str, now: datetime) -> Verdict:
    """May an attempt for ``username`` from ``address`` be verified at ``now``?"""
    retry_at = None
    for row in _rows(session, username, address):
        if row.locked_at is not None:
            return Verdict(allowed=False, locked=True)
        if row.blocked_until is not None and row.blocked_until > now:
            retry_at = max(retry_at or row.blocked_until, row.blocked_until)
    return Verdict(allowed=retry_at is None, retry_at=retry_at)


def _bump(session: Session, kind: str, key: str, now: datetime, cutoff: datetime) -> LoginFailure:
    """Count one more failure for (kind, key) atomically (write first, so SQLite takes its lock at once)."""
    stmt = (update(LoginFailure).where(LoginFailure.kind == kind, LoginFailure.key == key).values(
        failures=case((LoginFailure.locked_at.is_(None) & (LoginFailure.last_failure_at < cutoff), 1),
                      else_=LoginFailure.failures + 1),
        last_failure_at=now).execution_options(synchronize_session=False))
    if session.execute(stmt).rowcount == 0:
        try:
            with session.begin_nested():
                session.add(LoginFailure(kind=kind, key=key, failures=1, last_failure_at=now))
        except IntegrityError:  # another process inserted it meanwhile
            session.execute(stmt)
    row = session.scalar(select(LoginFailure).where(LoginFailure.kind == kind, LoginFailure.key == key)
                         .execution_options(populate_existing=True))
    assert row is not None
    return row


def record_failure(session: Session, config: AuthConfig, username: str, address: str, now: datetime) -> bool:
    """Count a failed attempt for the account and the address; True when this failure locked the account."""
    cutoff = now - timedelta(seconds=config.failure_window_s)
    locked_now = False
    for kind, key, free in ((ACCOUNT, account_key(username), config.account_free_failures),
                            (ADDRESS, address[:128], config.address_free_failures)):
        row = _bump(session, kind, key, now, cutoff)
        wait = backoff_s(row.failures, free, config)
        row.blocked_until = now + timedelta(seconds=wait) if wait else None
        if kind == ACCOUNT and row.locked_at is None and 0 < config.lockout_after_failures <= row.failures:
            row.locked_at = now
            locked_now = True
    session.flush()
    return locked_now


def record_success(session: Session, username: str) -> None:
    """A correct password ends the account's run of failures (the address keeps its count)."""
    session.execute(delete(LoginFailure).where(LoginFailure.kind == ACCOUNT,
                                               LoginFailure.key == account_key(username),
                                               LoginFailure.locked_at.is_(None)))


def unlock(session: Session, username: str) -> bool:
    """Forget the account's failures and lock; True when it was locked."""
    row = session.scalar(select(LoginFailure).where(LoginFailure.kind == ACCOUNT,
                                                    LoginFailure.key == account_key(username)))
    if row is None:
        return False
    was_locked = row.locked_at is not None
    session.delete(row)
    session.flush()
    return was_locked


def locked_accounts(session: Session) -> dict[str, datetime]:
    """Lower-case username -> when it was locked, for every locked account."""
    rows = session.execute(select(LoginFailure.key, LoginFailure.locked_at).where(
        LoginFailure.kind == ACCOUNT, LoginFailure.locked_at.is_not(None)))
    return {k: at for k, at in rows}


def cleanup(session: Session, config: AuthConfig, now: datetime) -> int:
    """Delete the failure counts that have lapsed (not locked, no failure within the window)."""
    cutoff = now - timedelta(seconds=config.failure_window_s)
    return session.execute(delete(LoginFailure).where(LoginFailure.locked_at.is_(None),
                                                      LoginFailure.last_failure_at < cutoff)).rowcount
