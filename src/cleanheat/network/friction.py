"""Darcy friction factor models, vectorised, each returning ``(lambda, re_dlambda_dre)``.

``re_dlambda_dre`` is ``Re * dlambda/dRe``; the hydraulic Newton step uses it for the exact derivative of the
pressure drop ``dp = c * lambda(Re) * m|m|`` with respect to the mass flow:
``d dp / dm = c |m| (2 lambda + Re dlambda/dRe)``.

Models
------
``colebrook_laminar`` (default)
    64/Re below Re 2000, Colebrook-White above Re 4000, linear in Re between the two (continuous, so that
    Newton's method does not chatter at the transition).
``colebrook``
    Colebrook-White at every Reynolds number (pandapipes' ``colebrook``; it has no laminar branch).
``nikuradse``
    64/Re + 1/(2 log10(3.71 D/k))^2 (pandapipes' default ``nikuradse``).
``swamee_jain``
    0.25 / log10(k/(3.7 D) + 5.74/Re^0.9)^2 at every Reynolds number.
"""

from __future__ import annotations

import numpy as np

LN10 = np.log(10.0)
RE_LAMINAR_MAX = 2000.0
RE_TURBULENT_MIN = 4000.0
MODELS = ("colebrook_laminar", "colebrook", "nikuradse", "swamee_jain")


def colebrook(re, rel_roughness, tol: float = 1e-13, max_iter: int = 30):
    """Colebrook-White ``1/sqrt(l) = -2 log10(2.51/(Re sqrt(l)) + (k/D)/3.71)`` solved by Newton's method on
    ``x = 1/sqrt(l)``; returns ``(lambda, Re dlambda/dRe)``."""
    re = np.maximum(np.asarray(re, dtype=float), 1e-6)
    rr = np.asarray(rel_roughness, dtype=float) / 3.71
    # start from Swamee-Jain (within a few per cent in the turbulent range)
    x = -2.0 * np.log10(rr * (3.71 / 3.7) + 5.74 / re**0.9)
    x = np.maximum(x, 0.5)
    a = 2.51 / re
    for _ in range(max_iter):
        s = a * x + rr
        f = x + 2.0 * np.log10(s)
        df = 1.0 + 2.0 * a / (LN10 * s)
        dx = f / df
        x_new = x - dx
        # keep x positive (tiny Re gives very large lambda)
        x = np.where(x_new > 0.0, x_new, 0.5 * x)
        if np.max(np.abs(dx) / x) < tol:
            break
    lam = 1.0 / (x * x)
    s = a * x + rr
    c1 = 2.0 * a / (LN10 * s)
    # Re dx/dRe = c1 x / (1 + c1);  Re dlam/dRe = -2 lam (Re dx/dRe) / x
    re_dlam = -2.0 * lam * c1 / (1.0 + c1)
    return lam, re_dlam


def swamee_jain(re, rel_roughness):
    re = np.maximum(np.asarray(re, dtype=float), 1e-6)
    rr = np.asarray(rel_roughness, dtype=float)
    s = rr / 3.7 + 5.74 / re**0.9
    lg = np.log10(s)
    lam = 0.25 / lg**2
    # d lam / d Re = -0.5 lg^-3 * (1/(s ln10)) * (-0.9*5.74 Re^-1.9)
    re_dlam = 0.5 / lg**3 / (s * LN10) * 0.9 * 5.74 / re**0.9
    return lam, re_dlam


def nikuradse(re, rel_roughness):
    re = np.maximum(np.asarray(re, dtype=float), 1e-6)
    rr = np.asarray(rel_roughness, dtype=float)
    lam_rough = 1.0 / (2.0 * np.log10(3.71 / rr)) ** 2
    lam = 64.0 / re + lam_rough
    return lam, -64.0 / re


def colebrook_laminar(re, rel_roughness):
    re = np.maximum(np.asarray(re, dtype=float), 1e-6)
    rr = np.asarray(rel_roughness, dtype=float)
    lam = 64.0 / re
    re_dlam = -lam.copy()
    turb = re > RE_LAMINAR_MAX
    if turb.any():
        re_t = np.maximum(re[turb], RE_TURBULENT_MIN)
        lt, lt_d = colebrook(re_t, rr[turb] if rr.ndim else rr)
        full = re[turb] >= RE_TURBULENT_MIN
        # transition: linear in Re between 64/2000 and Colebrook(4000)
        l0 = 64.0 / RE_LAMINAR_MAX
        w = (re[turb] - RE_LAMINAR_MAX) / (RE_TURBULENT_MIN - RE_LAMINAR_MAX)
        l_tr = l0 + w * (lt - l0)
        d_tr = re[turb] * (lt - l0) / (RE_TURBULENT_MIN - RE_LAMINAR_MAX)
        lam[turb] = np.where(full, lt, l_tr)
        re_dlam[turb] = np.where(full, lt_d, d_tr)
    return lam, re_dlam


def friction_factor(model: str, re, rel_roughness):
    """Darcy friction factor ``(lambda, Re dlambda/dRe)`` for the named model."""
    if model == "colebrook_laminar":
        return colebrook_laminar(re, rel_roughness)
    if model == "colebrook":
        return colebrook(re, rel_roughness)
    if model == "nikuradse":
        return nikuradse(re, rel_roughness)
    if model == "swamee_jain":
        return swamee_jain(re, rel_roughness)
    raise ValueError(f"unknown friction model {model!r}; choose one of {', '.join(MODELS)}")
