"""The login use case: throttle, then verify the password within a bounded hashing slot, then count the outcome.

Unlike the other services this one owns its transactions (short ones, from ``factory``): a failure is recorded
and committed at once, whatever the caller does next, and the throttle is checked again after waiting for a
hashing slot, so a burst of concurrent guesses is refused after the first few instead of each costing a hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from cleanheat.auth import service, throttle
from cleanheat.auth.config import AuthConfig
from cleanheat.auth.passwords import hash_slot
from cleanheat.auth.throttle import Verdict
from cleanheat.store.base import utcnow
from cleanheat.store.engine import session_scope


@dataclass(frozen=True)
class LoginResult:
    """``user_id`` when the password was right. Otherwise ``checked`` tells whether the password was verified
    (and wrong) or the attempt refused unchecked; ``verdict`` says when the next attempt may come."""

    user_id: int | None
    verdict: Verdict
    checked: bool = False
    locked_now: bool = False

    @property
    def ok(self) -> bool:
        return self.user_id is not None


def _check(factory: sessionmaker[Session], config: AuthConfig, username: str, address: str,
           now: datetime) -> Verdict:
    with session_scope(factory) as s:
        return throttle.check(s, config, username, address, now)


def attempt_login(factory: sessionmaker[Session], config: AuthConfig, username: str, password: str,
                  address: str, now: datetime | None = None) -> LoginResult:
    """Try ``username``/``password`` from client ``address`` (raises ``HashingBusyError`` when flooded)."""
    now = now or utcnow()
    verdict = _check(factory, config, username, address, now)
    if not verdict.allowed:
        return LoginResult(None, verdict)
    with hash_slot():
        verdict = _check(factory, config, username, address, now)
        if not verdict.allowed:
            return LoginResult(None, verdict)
        with session_scope(factory) as s:
            user = service.authenticate(s, username, password)
            if user is not None:
                throttle.record_success(s, username)
                service.cleanup_expired(s, config, now)
                return LoginResult(user.id, verdict, checked=True)
            locked_now = throttle.record_failure(s, config, username, address, now)
            if locked_now:
                service.audit(s, service.Actor.system("login"), "lockout", "user", throttle.account_key(username),
                              {"username": username, "address": address,
                               "failures": config.lockout_after_failures},
                              summary=f"账户因多次密码错误被锁定 / account locked after failed logins: {username}")
    return LoginResult(None, _check(factory, config, username, address, now), checked=True, locked_now=locked_now)
