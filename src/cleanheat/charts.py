"""Static charts (PNG) for documents rendered without JavaScript (PDF, downloadable HTML), via matplotlib.

Chinese labels use the Noto Sans CJK font found by fontconfig (Debian package fonts-noto-cjk); without it
matplotlib falls back to its default font and Chinese glyphs may be missing (a warning is logged once).
"""

from __future__ import annotations

import base64
import io
import logging
import shutil
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache, wraps

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import font_manager

log = logging.getLogger(__name__)
PALETTE = ["#0b6e4f", "#3b8ea5", "#f2a541", "#c44536", "#6c757d", "#8e7dbe", "#58a4b0", "#d4a373"]


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font, registered with matplotlib."""
    path = None
    if shutil.which("fc-match"):
        out = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC"], capture_output=True, text=True,
                             check=False).stdout.strip()
        if "CJK" in out:
            path = out
    if path is None:
        log.warning("no CJK font found (install fonts-noto-cjk): Chinese text in charts may not render")
        return None
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def use_cjk_font() -> None:
    """Make matplotlib draw Chinese text with the installed CJK font (call before drawing any figure).

    The font is registered from its file (found by fontconfig), so it works even when matplotlib's font
    cache was built before fonts-noto-cjk was installed."""
    family = cjk_font()
    if family:
        plt.rcParams["font.family"] = [family, "sans-serif"]
    plt.rcParams["axes.unicode_minus"] = False


def _frozen(value):
    """A hashable copy of a chart argument (lists and dicts of plain values)."""
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _remembered(draw: Callable[..., bytes]) -> Callable[..., bytes]:
    """The same chart for the same figures is drawn once per process (the last 64 kept): a report asked for
    again, with figures that have not changed, does not pay matplotlib's ~0.3–0.5 s per chart again."""
    cache: OrderedDict = OrderedDict()
    lock = threading.Lock()

    @wraps(draw)
    def chart(*args, **kwargs) -> bytes:
        key = (_frozen(list(args)), _frozen(dict(sorted(kwargs.items()))))
        with lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        png = draw(*args, **kwargs)
        with lock:
            cache[key] = png
            while len(cache) > 64:
                cache.popitem(last=False)
        return png

    return chart


def _figure(width_in: float = 7.0, height_in: float = 3.2):
    use_cjk_font()
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=150)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


@_remembered
def bars_vs_target(labels: list[str], actual: list[float | None], target: list[float | None], *, title: str,
                   percent: bool = True) -> bytes:
    """Grouped bars: actual and target per category (values as fractions when ``percent``)."""
    fig, ax = _figure()
    k = 100 if percent else 1
    x = range(len(labels))
    a = [(v or 0) * k for v in actual]
    t = [(v or 0) * k for v in target]
    ax.bar([i - 0.2 for i in x], a, width=0.4, color=PALETTE[0], label="实际")
    ax.bar([i + 0.2 for i in x], t, width=0.4, color=PALETTE[2], label="目标")
    for i, v in enumerate(a):
        ax.text(i - 0.2, v, f"{v:.1f}{'%' if percent else ''}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels)
    ax.set_title(title, fontsize=11)
    if percent:
        ax.set_ylabel("%")
    ax.legend(frameon=False, fontsize=9)
    return _png(fig)


@_remembered
def lines(periods: list[str], series: dict[str, list[float | None]], *, title: str, percent: bool = True) -> bytes:
    fig, ax = _figure()
    k = 100 if percent else 1
    for i, (name, values) in enumerate(series.items()):
        ax.plot(periods, [None if v is None else v * k for v in values], marker="o", markersize=3,
                color=PALETTE[i % len(PALETTE)], label=name)
    ax.set_title(title, fontsize=11)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    if percent:
        ax.set_ylabel("%")
    ax.legend(frameon=False, fontsize=8, ncol=2)
    return _png(fig)


@_remembered
def horizontal_bars(labels: list[str], values: list[float], *, title: str, unit: str = "") -> bytes:
    fig, ax = _figure(7.0, max(2.5, 0.28 * len(labels) + 0.8))
    ax.barh(labels[::-1], values[::-1], color=PALETTE[1])
    for i, v in enumerate(values[::-1]):
        ax.text(v, i, f" {v:,.0f}{unit}", va="center", fontsize=8)
    ax.set_title(title, fontsize=11)
    return _png(fig)
