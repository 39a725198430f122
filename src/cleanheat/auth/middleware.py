"""``request.session`` kept on the server: a small ASGI middleware in place of Starlette's SessionMiddleware.

The cookie carries only a random session id; the session's data (user id, CSRF token, flash messages) lives in
its ``auth_sessions`` row, so the cookie stays small whatever is flashed, and a session ends when its row is
revoked (logout, password change, an administrator's reset, deactivation). Routes use ``request.session`` as a
dict, as before:

- the row is read (and its expiry slid, at most once a minute) before the route runs;
- only sessions with a ``uid`` (logged in) are stored; anonymous data is dropped and gets no cookie;
- ``request.session.clear()`` means "log out": the row is revoked; a ``uid`` set after ``clear()`` (a login,
  or a password change re-issuing the session) starts a new row with a new id (no session fixation);
- changed data is written after the route's own transaction has committed, and the response is held back
  until then (so the browser's next request sees it; a changed session therefore does not stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cleanheat.auth import sessions
from cleanheat.store.base import utcnow
from cleanheat.store.engine import session_scope

#: Scope key holding the id of the request's ``auth_sessions`` row (None when not logged in by cookie).
SESSION_ROW = "cleanheat.session_row"
#: the ``Actor`` of the session's user, read with the session row (``session_actor``)
SESSION_ACTOR = "cleanheat.session_actor"


class ServerSession(dict):
    """The session dict; remembers whether it was changed and whether it was cleared (a login or logout)."""

    def __init__(self, data: dict | None = None) -> None:
        super().__init__(data or {})
        self.modified = False
        self.cleared = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple:
        self.modified = True
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)

    def clear(self) -> None:
        self.modified = self.cleared = True
        super().clear()


@dataclass(frozen=True)
class _Loaded:
    row_id: int
    user_id: int
    data: dict
    refreshed: bool
    actor: Any = None  # the session's user as an ``Actor`` (None when disabled), read with the session row


def session_actor(conn: HTTPConnection, uid: int) -> tuple[bool, Any]:
    """(known, actor): the ``Actor`` of user ``uid`` as read with the request's session row — actor None when the
    user is disabled — or known False when the row was not read for that user (log-in in this request)."""
    found = conn.scope.get(SESSION_ACTOR)
    if found is None or found[0] != uid:
        return False, None
    return True, found[1]


def current_session_row(conn: HTTPConnection) -> int | None:
    """The id of the request's session row (for "this session" on the account page)."""
    return conn.scope.get(SESSION_ROW)


class ServerSessionMiddleware:
    def __init__(self, app: ASGIApp, *, factory: sessionmaker[Session], max_age_s: int, https_only: bool = False,
                 cookie_name: str = "cleanheat_session", skip_prefixes: tuple[str, ...] = ("/static/",)) -> None:
        self.app, self.factory, self.max_age_s = app, factory, max_age_s
        self.cookie_name, self.skip_prefixes = cookie_name, skip_prefixes
        self._attrs = "; Path=/; HttpOnly; SameSite=lax" + ("; Secure" if https_only else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        sid = conn.cookies.get(self.cookie_name)
        skip = scope.get("path", "").startswith(self.skip_prefixes)
        loaded = await run_in_threadpool(self._load, sid) if sid and not skip else None
        session = ServerSession(loaded.data if loaded else {})
        scope["session"] = session
        scope[SESSION_ROW] = loaded.row_id if loaded else None
        scope[SESSION_ACTOR] = (loaded.user_id, loaded.actor) if loaded else None
        if scope["type"] != "http" or skip:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        holding = False

        async def send_wrapper(message: Message) -> None:
            nonlocal holding
            if message["type"] == "http.response.start":
                if self._needs_write(session, loaded):
                    holding = True
                elif loaded is not None and loaded.refreshed:
                    MutableHeaders(scope=message).append("set-cookie", self._cookie(sid))
                elif sid and loaded is None:
                    MutableHeaders(scope=message).append("set-cookie", self._cookie(None))
            if holding:
                held.append(message)
            else:
                await send(message)

        await self.app(scope, receive, send_wrapper)
        if held:
            new_sid = await run_in_threadpool(self._save, session, loaded, conn)
            MutableHeaders(scope=held[0]).append("set-cookie", self._cookie(new_sid) if new_sid is not False
                                                  else self._cookie(sid))
            for message in held:
                await send(message)

    def _cookie(self, sid: str | None) -> str:
        if sid is None:
            return f"{self.cookie_name}=; Max-Age=0; expires=Thu, 01 Jan 1970 00:00:00 GMT{self._attrs}"
        return f"{self.cookie_name}={sid}; Max-Age={self.max_age_s}{self._attrs}"

    def _load(self, sid: str) -> _Loaded | None:
        from cleanheat.auth.service import Actor

        now = utcnow()
        with session_scope(self.factory) as s:
            found = sessions.load_with_user(s, sid, now)
            if found is None:
                return None
            row, user = found
            refreshed = sessions.touch(s, row, now, self.max_age_s)
            return _Loaded(row.id, row.user_id, dict(row.data or {}), refreshed,
                           Actor.for_user(user) if user is not None else None)

    @staticmethod
    def _needs_write(session: ServerSession, loaded: _Loaded | None) -> bool:
        if session.get("uid") is None:
            return loaded is not None  # logged out (or the user went away): revoke
        return loaded is None or session.modified or loaded.user_id != session["uid"]

    def _save(self, session: ServerSession, loaded: _Loaded | None, conn: HTTPConnection) -> str | None | bool:
        """Write the session; returns the new cookie value, None to delete the cookie, False to keep it."""
        now = utcnow()
        uid = session.get("uid")
        with session_scope(self.factory) as s:
            if uid is None:
                sessions.revoke(s, loaded.row_id, now)
                return None
            if loaded is not None and not session.cleared and loaded.user_id == uid:
                sessions.save_data(s, loaded.row_id, dict(session))
                return False
            if loaded is not None:
                sessions.revoke(s, loaded.row_id, now)
            sid, _row = sessions.create(s, user_id=int(uid), data=dict(session), now=now, max_age_s=self.max_age_s,
                                        user_agent=conn.headers.get("user-agent", ""),
                                        address=conn.client.host if conn.client else "")
            return sid
