"""Use cases of the auth area. Every function takes a session; none commits (the caller's scope does)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.auth import sessions as session_records
from cleanheat.auth import throttle
from cleanheat.auth.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from cleanheat.auth.policy import enforce_password
from cleanheat.auth.roles import ALLOWED_ROLES, CITY_WIDE_ROLES, OrgKind, Role
from cleanheat.auth.tables import ApiToken, AuditLog, AuthSession, Organisation, User
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError, PermissionDeniedError
from cleanheat.store.base import utcnow
from cleanheat.store.paging import PAGE_SIZE, Page, like_pattern, page_of

#: Shown when a user who must change their password tries anything else (pages redirect; the API refuses).
PASSWORD_CHANGE_REQUIRED = ("请先登录网页修改密码（管理员设置的初始密码或重置密码必须更改） / "
                            "change your password first: "
                            "log in on the web page (a password set by an administrator must be changed)")


class PasswordChangeRequiredError(PermissionDeniedError):
    """The user must change the password an administrator set before using the platform."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in user, or the system (CLI, loaders). Passed to every service call."""

    actor: str
    role: Role
    user_id: int | None = None
    org_id: int | None = None
    org_kind: OrgKind | None = None
    org_code: str | None = None
    admin_unit_code: str | None = None
    #: The user must choose a new password before doing anything else (admin-created account or reset).
    must_change_password: bool = False

    @property
    def city_wide(self) -> bool:
        """True when the actor may see every organisation's data."""
        return self.role in CITY_WIDE_ROLES

    def can_access_org(self, org_id: int | None) -> bool:
        return self.city_wide or (org_id is not None and org_id == self.org_id)

    def require_roles(self, *roles: Role) -> None:
        if self.role not in roles and self.role != Role.ADMIN:
            raise PermissionDeniedError(f"role {self.role} may not do this (needs one of {', '.join(roles)})")

    def require_org(self, org_id: int | None) -> None:
        if not self.can_access_org(org_id):
            raise PermissionDeniedError("this record belongs to another organisation")

    @classmethod
    def system(cls, name: str = "cli") -> Actor:
        return cls(actor=f"system:{name}", role=Role.ADMIN)

    @classmethod
    def for_user(cls, user: User) -> Actor:
        org = user.organisation
        return cls(
            actor=user.username,
            role=Role(user.role),
            user_id=user.id,
            org_id=user.org_id,
            org_kind=OrgKind(org.kind),
            org_code=org.code,
            admin_unit_code=org.admin_unit_code,
            must_change_password=user.must_change_password,
        )


def audit(session: Session, actor: Actor, action: str, entity: str, entity_id: object = "",
          detail: dict | None = None, summary: str = "") -> AuditLog:
    """Record one write in the audit log (in the caller's transaction)."""
    row = AuditLog(
        user_id=actor.user_id,
        org_id=actor.org_id,
        actor=actor.actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        detail=detail or {},
        summary=summary,
    )
    session.add(row)
    return row


# --- organisations -------------------------------------------------------------------------------------

def get_org_by_code(session: Session, code: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFoundError(f"organisation {code!r} not found")
    return org


def upsert_org(session: Session, actor: Actor, *, code: str, name_zh: str, kind: OrgKind | str,
               name_en: str = "", admin_unit_code: str | None = None) -> Organisation:
    actor.require_roles(Role.ADMIN)
    kind = OrgKind(kind)
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        org = Organisation(code=code)
        session.add(org)
        action = "create"
    else:
        action = "update"
    org.name_zh, org.name_en, org.kind, org.admin_unit_code = name_zh, name_en, kind.value, admin_unit_code
    session.flush()
    audit(session, actor, action, "organisation", org.id, {"code": code, "kind": kind.value})
    return org


def org_names(session: Session, actor: Actor) -> dict[int, str]:
    """Every organisation's Chinese name by id (not scoped: names are shown beside reports and sources to any
    signed-in ``actor``)."""
    return dict(session.execute(select(Organisation.id, Organisation.name_zh)).all())


def list_orgs(session: Session, actor: Actor) -> list[Organisation]:
    q = select(Organisation).order_by(Organisation.id)
    if not actor.city_wide:
        q = q.where(Organisation.id == actor.org_id)
    return list(session.scalars(q))


# --- users ---------------------------------------------------------------------------------------------

def create_user(session: Session, actor: Actor, *, username: str, password: str, role: Role | str,
                org_code: str, display_name: str = "", language: str = "zh",
                must_change_password: bool | None = None) -> User:
    """Create a user. ``must_change_password`` defaults to True when a logged-in administrator creates the
    account (the initial password was chosen by someone else) and False for system loaders (demo, tests)."""
    actor.require_roles(Role.ADMIN)
    enforce_password(password, username)
    if must_change_password is None:
        must_change_password = actor.user_id is not None
    role = Role(role)
    org = get_org_by_code(session, org_code)
    if role not in ALLOWED_ROLES[OrgKind(org.kind)]:
        raise InputError(
            f"role {role} is not allowed for an organisation of kind {org.kind}",
            [InputIssue(f"role {role} not allowed for {org.kind}", field="role")],
        )
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ConflictError(f"user {username!r} already exists")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role.value,
        org_id=org.id,
        language=language,
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    audit(session, actor, "create", "user", user.id, {"username": username, "role": role.value, "org": org_code,
                                                      "must_change_password": must_change_password})
    return user


def find_user(session: Session, username: str) -> User | None:
    """The user called ``username`` (None when there is none)."""
    return session.scalar(select(User).where(User.username == username))


def _user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"user {username!r} not found")
    return user


def set_password(session: Session, actor: Actor, username: str, password: str,
                 must_change_password: bool | None = None) -> User:
    """Set a user's password (checked against the policy) and end all their sessions and API tokens.

    Set by someone else (an administrator, the CLI): the user must change it at the next login.
    """
    user = _user_by_name(session, username)
    if actor.role != Role.ADMIN and actor.user_id != user.id:
        raise PermissionDeniedError("only an administrator may change another user's password")
    enforce_password(password, user.username)
    user.password_hash = hash_password(password)
    user.must_change_password = (actor.user_id != user.id) if must_change_password is None else must_change_password
    ended = end_all_access(session, user.id)
    audit(session, actor, "set_password", "user", user.id,
          {"username": user.username, "must_change_password": user.must_change_password, **ended})
    return user


def change_own_password(session: Session, actor: Actor, current: str, new: str) -> User:
    """The actor changes their own password: the current one must be right and the new one different."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise PermissionDeniedError("only a logged-in user has a password to change")
    if not verify_password(user.password_hash, current):
        raise InputError("当前密码不正确 / the current password is wrong",
                         [InputIssue("当前密码不正确", field="current_password",
                                     message_en="the current password is wrong")])
    if new == current:
        raise InputError("新密码不能与当前密码相同 / the new password must differ from the current one",
                         [InputIssue("新密码不能与当前密码相同", field="new_password",
                                     message_en="the new password must differ from the current one")])
    return set_password(session, actor, user.username, new, must_change_password=False)


def end_all_access(session: Session, user_id: int) -> dict[str, int]:
    """Revoke every login session and API token of ``user_id``."""
    now = utcnow()
    n_sessions = session_records.revoke_all(session, user_id, now)
    tokens = list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False))))
    for tok in tokens:
        tok.revoked = True
    session.flush()
    return {"sessions_ended": n_sessions, "tokens_revoked": len(tokens)}


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None. Rehashes when the argon2 parameters changed."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        # Spend comparable time whether or not the user exists.
        verify_password(dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def list_users(session: Session, actor: Actor) -> list[User]:
    actor.require_roles(Role.ADMIN)
    return list(session.scalars(select(User).order_by(User.org_id, User.username)))


def set_active(session: Session, actor: Actor, username: str, active: bool) -> User:
    actor.require_roles(Role.ADMIN)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"user {username!r} not found")
    if user.id == actor.user_id and not active:
        raise ConflictError("you cannot deactivate yourself")
    user.is_active = active
    if not active:
        end_all_access(session, user.id)
    audit(session, actor, "activate" if active else "deactivate", "user", user.id, {"username": username})
    return user


def update_user(session: Session, actor: Actor, username: str, *, role: Role | str, org_code: str,
                display_name: str | None = None) -> User:
    """An administrator changes a user's role, organisation and display name (the role must suit the
    organisation's kind); the audit entry records each changed field as [before, after]. The user's next request
    already acts with the new role (the actor is read per request)."""
    actor.require_roles(Role.ADMIN)
    user = _user_by_name(session, username)
    try:
        role = Role(role)
    except ValueError as exc:
        raise InputError(f"unknown role {role!r}", [InputIssue(f"未知角色 {role}", field="role",
                                                               message_en=f"unknown role {role}")]) from exc
    org = get_org_by_code(session, org_code)
    if role not in ALLOWED_ROLES[OrgKind(org.kind)]:
        raise InputError(f"role {role} is not allowed for an organisation of kind {org.kind}",
                         [InputIssue(f"{org.name_zh} 的用户不能担任该角色", field="role",
                                     message_en=f"a user of {org.name_en or org.code} cannot have this role")])
    if user.id == actor.user_id and role != Role.ADMIN:
        raise ConflictError("you cannot remove your own administrator role")
    before = {"role": user.role, "org": user.organisation.code, "display_name": user.display_name}
    user.role, user.org_id = role.value, org.id
    if display_name is not None and display_name.strip():
        user.display_name = display_name.strip()
    session.flush()
    session.refresh(user)
    after = {"role": user.role, "org": user.organisation.code, "display_name": user.display_name}
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    audit(session, actor, "update", "user", user.id, {"username": user.username, "changes": changes},
          summary=f"修改用户 {user.username}：" + "，".join(f"{k} {a} → {b}" for k, (a, b) in changes.items()))
    return user


def get_user(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return user if user is not None and user.is_active else None


# --- API tokens ------------------------------------------------------------------------------------------

def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, *, name: str = "api", max_age_days: int = 90) -> str:
    """Create a bearer token for ``user``; the clear token is returned once and never stored."""
    if user.must_change_password:
        raise PasswordChangeRequiredError(PASSWORD_CHANGE_REQUIRED)
    token = "ch_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_token_digest(token),
                         expires_at=utcnow() + timedelta(days=max_age_days)))
    session.flush()
    audit(session, Actor.for_user(user), "issue", "api_token", user.id, {"name": name})
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(token)))
    if row is None or row.revoked or row.expires_at <= utcnow() or not row.user.is_active:
        return None
    row.last_used_at = utcnow()
    return row.user


def list_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    """The actor's own API tokens, newest first (the token itself is never stored, only its hash)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id)
                                .order_by(ApiToken.id.desc())))


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    """Revoke one API token; its owner or an administrator may."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.user_id and actor.role != Role.ADMIN):
        raise NotFoundError(f"API token {token_id} not found")
    if not row.revoked:
        row.revoked = True
        audit(session, actor, "revoke", "api_token", row.id, {"name": row.name, "user_id": row.user_id})
    return row


def list_sessions(session: Session, actor: Actor) -> list[AuthSession]:
    """The actor's own live login sessions, most recently used first."""
    return session_records.list_live(session, actor.user_id, utcnow()) if actor.user_id is not None else []


def revoke_session(session: Session, actor: Actor, session_id: int) -> None:
    """End one of the actor's own login sessions (an administrator may end anyone's)."""
    row = session.get(AuthSession, session_id)
    if row is None or (row.user_id != actor.user_id and actor.role != Role.ADMIN):
        raise NotFoundError(f"session {session_id} not found")
    session_records.revoke(session, row.id, utcnow())
    audit(session, actor, "revoke", "session", row.id, {"user_id": row.user_id})


def locked_accounts(session: Session, actor: Actor) -> dict[str, object]:
    """Lower-case username -> lock time of every account locked by failed logins (administrators only)."""
    actor.require_roles(Role.ADMIN)
    return throttle.locked_accounts(session)


def unlock_account(session: Session, actor: Actor, username: str) -> bool:
    """Unlock an account locked by failed logins (and forget its failures); True when it was locked."""
    actor.require_roles(Role.ADMIN)
    was_locked = throttle.unlock(session, username)
    user = session.scalar(select(User).where(User.username == username))
    audit(session, actor, "unlock", "user", user.id if user else username,
          {"username": username, "was_locked": was_locked})
    return was_locked


def cleanup_expired(session: Session, config, now=None) -> dict[str, int]:
    """Delete ended login sessions, long-expired or long-revoked API tokens and lapsed failure counts."""
    from sqlalchemy import delete

    now = now or utcnow()
    old = now - timedelta(days=30)
    tokens = session.execute(delete(ApiToken).where((ApiToken.expires_at < old) | (
        ApiToken.revoked.is_(True) & (ApiToken.created_at < old)))).rowcount
    return {"sessions": session_records.cleanup(session, now), "tokens": tokens,
            "failures": throttle.cleanup(session, config, now)}


def list_audit(session: Session, actor: Actor, limit: int = 200) -> list[AuditLog]:
    q = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if not actor.city_wide:
        q = q.where(AuditLog.org_id == actor.org_id)
    return list(session.scalars(q))


@dataclass(frozen=True)
class AuditFilter:
    """Which audit entries to show: by who (user name), object kind, object id, action, time range (UTC,
    ``until`` exclusive) and text in the summary."""

    actor: str = ""
    entity: str = ""
    entity_id: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""


def _audit_query(actor: Actor, f: AuditFilter):
    q = select(AuditLog)
    if not actor.city_wide:
        q = q.where(AuditLog.org_id == actor.org_id)
    if f.actor:
        q = q.where(AuditLog.actor == f.actor)
    if f.entity:
        q = q.where(AuditLog.entity == f.entity)
    if f.entity_id:
        q = q.where(AuditLog.entity_id == f.entity_id)
    if f.action:
        q = q.where(AuditLog.action == f.action)
    if f.since is not None:
        q = q.where(AuditLog.at >= f.since)
    if f.until is not None:
        q = q.where(AuditLog.at < f.until)
    if f.text:
        q = q.where(AuditLog.summary.like(like_pattern(f.text), escape="\\"))
    return q


def audit_page(session: Session, actor: Actor, f: AuditFilter, *, page: int = 1, per_page: int = PAGE_SIZE
               ) -> Page:
    """One page of the audit entries matching ``f`` (newest first) and how many match in all."""
    actor.require_roles(Role.ADMIN, Role.PROGRAMME_OFFICE)
    return page_of(session, _audit_query(actor, f), AuditLog.id.desc(), page=page, per_page=per_page)


def search_audit(session: Session, actor: Actor, f: AuditFilter, *, page: int = 1, per_page: int = 50
                 ) -> tuple[list[AuditLog], int]:
    """One page of the audit entries matching ``f`` (newest first) and how many match in all."""
    p = audit_page(session, actor, f, page=page, per_page=per_page)
    return p.rows, p.total


def audit_choices(session: Session, actor: Actor) -> dict[str, list[str]]:
    """The distinct users, object kinds and actions in the audit log (for the filter lists)."""
    actor.require_roles(Role.ADMIN, Role.PROGRAMME_OFFICE)
    out = {}
    for name, col in (("actor", AuditLog.actor), ("entity", AuditLog.entity), ("action", AuditLog.action)):
        q = select(col).distinct().order_by(col)
        if not actor.city_wide:
            q = q.where(AuditLog.org_id == actor.org_id)
        out[name] = list(session.scalars(q.limit(500)))
    return out


#: An audit export holds at most this many entries (the newest; the file says when it was cut).
AUDIT_EXPORT_MAX_ROWS = 50_000


def export_audit(session: Session, actor: Actor, f: AuditFilter) -> tuple[list[AuditLog], bool]:
    """The entries matching ``f`` for an export (newest first, at most ``AUDIT_EXPORT_MAX_ROWS``; True when
    cut). The export itself is audited."""
    actor.require_roles(Role.ADMIN, Role.PROGRAMME_OFFICE)
    rows = list(session.scalars(_audit_query(actor, f).order_by(AuditLog.id.desc())
                                .limit(AUDIT_EXPORT_MAX_ROWS + 1)))
    cut = len(rows) > AUDIT_EXPORT_MAX_ROWS
    audit(session, actor, "export", "audit_log", "", {"filter": {k: str(v) for k, v in f.__dict__.items() if v},
                                                      "rows": min(len(rows), AUDIT_EXPORT_MAX_ROWS)})
    return rows[:AUDIT_EXPORT_MAX_ROWS], cut
