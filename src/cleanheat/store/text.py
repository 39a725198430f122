"""Making untrusted text storable on every backend."""

from __future__ import annotations


def storable_text(text: str | None, max_len: int | None = None) -> str:
    """``text`` safe for a text column: NUL characters (which PostgreSQL refuses in text) written as ``\\x00``,
    cut to ``max_len`` characters. Used wherever device or file input is stored verbatim."""
    out = (text or "").replace("\x00", "\\x00")
    return out[:max_len] if max_len is not None else out
