"""Security headers on every response: a Content-Security-Policy that forbids inline script, plus nosniff,
referrer and framing rules.

Pages keep their JavaScript in ``/static/js/*.js`` and pass server data in ``<script type="application/json">``
blocks (not executed), so ``script-src 'self'`` is enough for them: an identifier that slips into HTML unescaped
can no longer run script. ECharts and htmx set inline ``style`` attributes, hence ``style-src 'unsafe-inline'``.

FastAPI's Swagger page (``/api/docs``) loads swagger-ui from its CDN and starts it with one inline script. That
page gets its own policy: the CDN for scripts and styles, and the inline script allowed by its SHA-256 hash
(computed from the page as served, so it follows FastAPI upgrades). It needs the network like before; every
other page works offline.

A response that already carries a ``Content-Security-Policy`` keeps it (a route may set a stricter one).
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
               "form-action 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")

#: where FastAPI's default Swagger page takes its assets from
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_FAVICON = "https://fastapi.tiangolo.com"

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def docs_policy(html: bytes) -> str:
    """The policy for the Swagger page ``html``: its inline scripts allowed by hash, its CDN for the assets."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()}'"
                      for m in _INLINE_SCRIPT.finditer(html))
    return (f"default-src 'self'; script-src 'self' {DOCS_CDN} {hashes}; object-src 'none'; base-uri 'self'; "
            f"frame-ancestors 'none'; form-action 'self'; img-src 'self' data: {DOCS_FAVICON}; "
            f"style-src 'self' 'unsafe-inline' {DOCS_CDN}")


class SecurityHeadersMiddleware:
    """ASGI middleware adding :data:`PAGE_POLICY` and :data:`COMMON_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp, docs_path: str | None = "/api/docs") -> None:
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.docs_path is not None and scope["path"] == self.docs_path:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add(MutableHeaders(scope=message), PAGE_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the (small) Swagger page to hash its inline script, then send it with its policy."""
        start: Message | None = None
        body = b""

        async def buffer(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body", False):
                return
            headers = MutableHeaders(scope=start)
            _add(headers, docs_policy(body))
            if "content-length" in headers:
                headers["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, buffer)


def _add(headers: MutableHeaders, policy: str) -> None:
    if "content-security-policy" not in headers:
        headers["Content-Security-Policy"] = policy
    for name, value in COMMON_HEADERS.items():
        if name.lower() not in headers:
            headers[name] = value
