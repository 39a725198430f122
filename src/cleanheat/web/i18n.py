"""Page language: Chinese first, English available (cookie ``lang``)."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("zh", "en")


def pick_language(cookie_value: str | None, default: str = "zh") -> str:
    return cookie_value if cookie_value in LANGUAGES else default


def translator(lang: str) -> Callable[[str, str], str]:
    """``T(zh, en)`` returns the text in the page language."""

    def T(zh: str, en: str = "") -> str:  # noqa: N802 - reads well in templates
        return en if (lang == "en" and en) else zh

    return T


STATUS_LABELS = {
    "met": ("达标", "Met"),
    "lagging": ("滞后", "Behind"),
    "missed": ("未达标", "Missed"),
    "no_data": ("无数据", "No data"),
}
