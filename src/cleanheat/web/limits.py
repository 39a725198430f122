"""Request-body limits and authentication before any body is read (issue #10.10).

An ASGI middleware, installed inside the session middleware (it reads ``scope["session"]``):

* a request with a body to anything but the credential routes (``/login``, ``/api/auth/token``) and the device
  ingest routes (which check their device token before reading) must come from a logged-in session or carry a
  valid bearer token; otherwise it is answered 401 (API) or sent to /login (pages) without reading the body;
* a body larger than its route class's limit is refused with 413: by ``Content-Length`` before reading, and by
  counting the bytes of a chunked body as it is received. Limits: multipart uploads
  ``upload_max_bytes`` (+ form overhead), telemetry device ingest ``TelemetryConfig.http_ingest_max_bytes``,
  everything else (JSON, forms) ``body_max_bytes``.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cleanheat.web.deps import CREDENTIAL_PATHS

#: Room for the form fields and part headers around an uploaded file [bytes].
MULTIPART_OVERHEAD = 64 * 1024
#: Routes a device calls with its own token (checked by the route before it reads the body).
DEVICE_PATHS = re.compile(r"^/api/telemetry/(ingest|devices/[^/]+/readings)$")
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def body_limit(app, path: str, content_type: str) -> int:
    """The largest body accepted for a request to ``path`` with ``content_type`` [bytes]."""
    settings = app.state.settings
    if DEVICE_PATHS.match(path):
        from cleanheat.telemetry.config import TelemetryConfig

        cfg = getattr(app.state, "telemetry_config", None) or TelemetryConfig()
        return cfg.http_ingest_max_bytes
    if content_type.startswith("multipart/form-data"):
        return settings.upload_max_bytes + MULTIPART_OVERHEAD
    return settings.body_max_bytes


def _wants_json(scope: Scope, headers: dict[str, str]) -> bool:
    return scope["path"].startswith("/api/") or "application/json" in headers.get("accept", "")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"请求过大：最多 {limit:,} 字节 / request body too large: at most {limit:,} bytes")


class RequestLimits:
    """See the module text. ``app.state`` must hold ``settings`` and ``sessionmaker``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        has_body = chunked or (length is not None and length.strip() not in ("", "0"))
        path = scope["path"]
        if has_body and path not in CREDENTIAL_PATHS and not DEVICE_PATHS.match(path) \
                and not await _authenticated(scope):
            await _refuse_anonymous(scope, headers, send)
            return
        limit = body_limit(scope["app"], path, headers.get("content-type", ""))
        if length is not None and (not length.strip().isdigit() or int(length) > limit):
            if not length.strip().isdigit():
                await _send_json(send, 400, "bad Content-Length")
            else:
                await _send_refusal(scope, headers, send, BodyTooLarge(limit).detail)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched_send)
        except BodyTooLarge as exc:  # raised outside a route's error handling
            if started:
                raise
            await _send_refusal(scope, headers, send, exc.detail)


async def _authenticated(scope: Scope) -> bool:
    """A logged-in session (its cookie is signed) or a bearer token that is valid now; no body is read."""
    session = scope.get("session") or {}
    if session.get("uid") is not None:
        return True
    request = Request(scope)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        return False
    return await run_in_threadpool(_token_valid, request, header[7:].strip())


def _token_valid(request: Request, token: str) -> bool:
    from cleanheat.auth import service as auth_service

    with request.app.state.sessionmaker() as db:  # closed without commit: the route records the token's use
        return auth_service.user_for_token(db, token) is not None


async def _refuse_anonymous(scope: Scope, headers: dict[str, str], send: Send) -> None:
    if _wants_json(scope, headers):
        await _send_json(send, 401, "authentication required", [(b"www-authenticate", b"Bearer")])
        return
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", f"/login?next={scope['path']}".encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _send_refusal(scope: Scope, headers: dict[str, str], send: Send, detail: str) -> None:
    """413: JSON for the API; for a page's form (a browser without script, which checks the size first) a page
    saying so, with a link back to the form's page."""
    if _wants_json(scope, headers):
        await _send_json(send, 413, detail)
        return
    back = urlsplit(headers.get("referer", ""))
    back_path = back.path if back.path.startswith("/") and not back.path.startswith("//") else "/"
    body = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>413</title>'
            f'<link rel="stylesheet" href="/static/app.css"></head><body><main>'
            f'<div class="flash error" id="flash" role="alert"><div class="flash-message">未上传 / not uploaded: '
            f'{html.escape(detail)}</div></div><p><a href="{html.escape(back_path)}">返回 / back</a></p>'
            f'</main></body></html>').encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, detail: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
