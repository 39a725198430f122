"""Seasonal heat loss and renovation scenarios.

Seasonal heat loss (bin method): the heating-season hours of the weather year (Harbin: 20 Oct - 20 Apr,
data/harbin/climate.yaml) are grouped into outdoor-temperature bins (default 2 K). For each bin the network is
solved once with

* consumer demand scaled by the load fraction ``Q = (t_indoor - t_out) / (t_indoor - t_design)`` (clipped to 0..1),
* supply temperature by quality regulation ``T_s = T_s,min + (T_s,design - T_s,min) * Q`` and consumer return set
  points ``T_r = T_r,min + (T_r,design - T_r,min) * Q`` (design values are those in the network file),
* ground temperature from the weather file's monthly ground temperatures (the depth closest to 1.5 m, below the
  frost line), averaged over the bin's hours,

and the per-pipe heat loss [W] times the bin's hours gives GJ per season. Renovation scenarios change pipes
(pre-insulated replacement from the pipe catalogue) and/or the supply temperature, re-run the same bins, and
report GJ and yuan saved (value of heat: data/heat_value.yaml, a Decimal rounded to the fen once, at the end).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from cleanheat.climate import read_climate
from cleanheat.network.catalogue import pipe_catalogue
from cleanheat.network.model import Network
from cleanheat.network.solver import solve
from cleanheat.units import J_PER_GJ

K0 = 273.15


@dataclass(frozen=True)
class SeasonConditions:
    """Weather bins of one heating season."""

    t_out_c: np.ndarray  # bin mean outdoor temperature
    hours: np.ndarray  # hours in each bin
    t_ground_c: np.ndarray  # mean ground temperature of each bin's hours
    t_design_c: float
    t_indoor_c: float
    source: str


@dataclass(frozen=True)
class SeasonalLoss:
    network_name: str
    hours: float
    heat_loss_gj: float
    heat_delivered_gj: float
    heat_source_gj: float
    pipe_loss_gj: np.ndarray  # per pipe
    pipe_loss_gj_per_km: np.ndarray
    bins: list[dict] = field(default_factory=list)

    @property
    def loss_pct(self) -> float:
        """Heat loss as a share of the heat the sources supply [%]."""
        return 100.0 * self.heat_loss_gj / self.heat_source_gj if self.heat_source_gj else float("nan")

    def ranking(self, net: Network, top: int = 20) -> list[dict]:
        order = np.argsort(-self.pipe_loss_gj_per_km)[:top]
        return [{"pipe": str(net.pipes.id[i]), "dn": int(net.pipes.dn[i]), "length_m": float(net.pipes.length_m[i]),
                 "loss_gj": float(self.pipe_loss_gj[i]), "loss_gj_per_km": float(self.pipe_loss_gj_per_km[i])}
                for i in order]

    def as_dict(self, net: Network, top: int = 20) -> dict:
        return {"network": self.network_name, "hours": self.hours, "heat_loss_gj": self.heat_loss_gj,
                "heat_delivered_gj": self.heat_delivered_gj, "heat_source_gj": self.heat_source_gj,
                "heat_loss_pct": self.loss_pct, "bins": self.bins, "worst_pipes_per_km": self.ranking(net, top)}


@lru_cache(maxsize=1)
def heat_value() -> dict:
    """The value of saved heat (``network/data/heat_value.yaml``: price [yuan/GJ] with its source)."""
    return yaml.safe_load(resources.files("cleanheat.network").joinpath("data/heat_value.yaml").read_text())


def heating_season_conditions(city_dir: Path, bin_k: float = 2.0) -> SeasonConditions:
    """Heating-season bins [K wide] of the city's typical weather year, with the season dates and design
    temperatures of ``<city_dir>/climate.yaml`` (:func:`cleanheat.climate.read_climate`)."""
    from cleanheat.weather.epw import read_epw

    climate = read_climate(city_dir)
    if climate.weather_file is None:
        raise ValueError(f"{Path(city_dir) / 'climate.yaml'}: no weather_file")
    weather = read_epw(climate.weather_file)
    season = climate.season
    local = weather.time_utc + np.timedelta64(int(weather.utc_offset_h * 3600), "s")
    months = local.astype("datetime64[M]").astype(int) % 12 + 1
    days = (local.astype("datetime64[D]") - local.astype("datetime64[M]")).astype(int) + 1
    in_season = season.mask(months, days)
    depths = sorted(weather.ground_temp_c)
    depth = min(depths, key=lambda d: abs(d - 1.5)) if depths else None
    if depth is not None:
        t_ground_h = np.asarray(weather.ground_temp_c[depth])[months - 1]
    else:
        t_ground_h = np.full(len(months), 5.0)
    return season_bins(weather.dry_bulb_c[in_season], t_ground_h[in_season],
                       t_design_c=climate.outdoor_design_c, t_indoor_c=climate.indoor_design_c, bin_k=bin_k,
                       source=f"{weather.station}, heating season {season.start_month}/{season.start_day}-"
                              f"{season.end_month}/{season.end_day}, ground at {depth} m")


def season_bins(t_out_c: np.ndarray, t_ground_c: np.ndarray, *, t_design_c: float, t_indoor_c: float,
                bin_k: float = 2.0, source: str = "") -> SeasonConditions:
    """Group hourly outdoor temperatures ``t_out_c`` [°C] (ground ``t_ground_c`` [°C]) into bins ``bin_k`` [K]
    wide: mean temperatures and hours [h] per bin, with the design and indoor temperatures [°C]."""
    t_out_c = np.asarray(t_out_c, dtype=float)
    t_ground_c = np.asarray(t_ground_c, dtype=float)
    k = np.floor(t_out_c / bin_k).astype(int)
    keys, inv, counts = np.unique(k, return_inverse=True, return_counts=True)
    t_mean = np.bincount(inv, weights=t_out_c) / counts
    g_mean = np.bincount(inv, weights=t_ground_c) / counts
    return SeasonConditions(t_out_c=t_mean, hours=counts.astype(float), t_ground_c=g_mean, t_design_c=t_design_c,
                            t_indoor_c=t_indoor_c, source=source)


def operating_point(net: Network, t_out_c: float, t_ground_c: float, season: SeasonConditions, *,
                    supply_min_c: float = 65.0, return_min_c: float = 40.0, supply_offset_k: float = 0.0) -> Network:
    """The network at one outdoor temperature ``t_out_c`` [°C] (load fraction, quality regulation between
    ``supply_min_c``/``return_min_c`` [°C] and design, ground temperature ``t_ground_c`` [°C], supply shifted by
    ``supply_offset_k`` [K])."""
    q = float(np.clip((season.t_indoor_c - t_out_c) / (season.t_indoor_c - season.t_design_c), 0.0, 1.0))
    s = net.sources
    ts_des = s.supply_temperature_k - K0
    ts = supply_min_c + (ts_des - supply_min_c) * q + supply_offset_k
    c = net.consumers
    tr_des = c.return_temperature_k - K0
    tr = np.where(np.isfinite(tr_des), return_min_c + (tr_des - return_min_c) * q, np.nan)
    tr = np.minimum(tr, ts.min() - 5.0)
    pipes = net.pipes.replace(ground_temperature_k=np.full(len(net.pipes), t_ground_c + K0))
    return net.replace(
        pipes=pipes,
        consumers=c.replace(heat_w=c.heat_w * q, return_temperature_k=tr + K0),
        sources=s.replace(supply_temperature_k=ts + K0),
        ground_temperature_k=t_ground_c + K0,
    )


def seasonal_heat_loss(net: Network, season: SeasonConditions, *, options: dict | None = None,
                       supply_min_c: float = 65.0, return_min_c: float = 40.0, supply_offset_k: float = 0.0,
                       progress: Callable[[int, int], None] | None = None) -> SeasonalLoss:
    """Heat lost by every pipe over the season [GJ] (one solve per weather bin)."""
    n_p = len(net.pipes)
    loss_j = np.zeros(n_p)
    delivered_j = 0.0
    source_j = 0.0
    bins = []
    r = None
    for k, (t_o, hours, t_g) in enumerate(zip(season.t_out_c, season.hours, season.t_ground_c, strict=True)):
        op = operating_point(net, float(t_o), float(t_g), season, supply_min_c=supply_min_c,
                             return_min_c=return_min_c, supply_offset_k=supply_offset_k)
        # neighbouring bins are neighbouring operating points: start from the previous bin's solution
        r = solve(op, options, validate=False, start=r if k else None)
        sec = hours * 3600.0
        loss_j += r.pipe_heat_loss_w * sec
        delivered_j += float(np.sum(r.consumer_heat_w)) * sec
        source_j += float(np.sum(r.source_heat_w)) * sec
        bins.append({"t_out_c": float(t_o), "hours": float(hours), "t_ground_c": float(t_g),
                     "supply_c": float(np.max(op.sources.supply_temperature_k) - K0),
                     "heat_loss_kw": float(np.sum(r.pipe_heat_loss_w)) / 1e3,
                     "heat_delivered_kw": float(np.sum(r.consumer_heat_w)) / 1e3})
        if progress:
            progress(k + 1, len(season.hours))
    loss_gj = loss_j / J_PER_GJ
    return SeasonalLoss(network_name=net.name, hours=float(np.sum(season.hours)), heat_loss_gj=float(loss_gj.sum()),
                        heat_delivered_gj=delivered_j / J_PER_GJ, heat_source_gj=source_j / J_PER_GJ,
                        pipe_loss_gj=loss_gj, pipe_loss_gj_per_km=loss_gj / (net.pipes.length_m / 1000.0), bins=bins)


def _selection(net: Network, pipe_ids: Sequence[str]) -> np.ndarray:
    ids = {str(x) for x in pipe_ids}
    unknown = ids - {str(i) for i in net.pipes.id}
    if unknown:
        from cleanheat.errors import InputIssue
        from cleanheat.network.errors import NetworkInputError

        raise NetworkInputError("unknown pipe ids", [InputIssue(f"no pipe {u!r}", field="pipes")
                                                     for u in sorted(unknown)[:20]])
    return np.array([str(i) in ids for i in net.pipes.id], dtype=bool)


def preinsulated_u(net: Network) -> np.ndarray:
    """U' [W/(m K)] of a pre-insulated replacement of every pipe (catalogue, by inner diameter)."""
    _dn, u_new = pipe_catalogue().by_inner_diameter(net.pipes.inner_diameter_m)
    return np.asarray(u_new, dtype=float)


def already_preinsulated(net: Network, pipe_ids: Sequence[str]) -> list[str]:
    """The pipes of ``pipe_ids`` whose U' is already at (or below) the pre-insulated catalogue value, so that
    replacing them saves nothing (e.g. every pipe of a GeoJSON import, which takes the catalogue U')."""
    sel = _selection(net, pipe_ids)
    done = sel & (net.pipes.u_w_per_mk <= preinsulated_u(net) * (1.0 + 1e-9))
    return [str(i) for i in net.pipes.id[done]]


def assume_old_insulation(net: Network) -> Network:
    """The network with every pipe at the "old" state (an old trench pipe with degraded insulation: the
    pre-insulated catalogue U' times ``old_pipe_factor``), as ``--insulation old`` reads a GeoJSON file; pipes
    whose U' is already higher keep theirs."""
    from cleanheat.network.catalogue import pipe_catalogue

    u_old = preinsulated_u(net) * pipe_catalogue().old_pipe_factor
    u = np.maximum(net.pipes.u_w_per_mk, u_old)
    return net.replace(pipes=net.pipes.replace(u_w_per_mk=u, insulation=np.full(len(net.pipes), "old",
                                                                                   dtype=object)))


def replace_pipes(net: Network, pipe_ids: Sequence[str]) -> Network:
    """The network with the given pipes replaced by pre-insulated ones (catalogue U' by DN / diameter)."""
    sel = _selection(net, pipe_ids)
    u_new = preinsulated_u(net)
    u = np.where(sel, np.minimum(u_new, net.pipes.u_w_per_mk), net.pipes.u_w_per_mk)
    ins = np.where(sel, "pre-insulated", net.pipes.insulation)
    return net.replace(pipes=net.pipes.replace(u_w_per_mk=u, insulation=ins))


@dataclass(frozen=True)
class RenovationResult:
    base: SeasonalLoss
    scenario: SeasonalLoss
    price_yuan_per_gj: Decimal
    description: str
    replaced: tuple[str, ...] = ()
    already_preinsulated: tuple[str, ...] = ()  # of ``replaced``: nothing to gain from replacing these

    @property
    def saved_gj(self) -> float:
        return self.base.heat_loss_gj - self.scenario.heat_loss_gj

    @property
    def saved_yuan(self) -> Decimal:
        # money: Decimal, rounded to the fen once, here
        return (Decimal(repr(self.saved_gj)) * self.price_yuan_per_gj).quantize(Decimal("0.01"), ROUND_HALF_UP)

    def as_dict(self) -> dict:
        return {"description": self.description, "base_heat_loss_gj": self.base.heat_loss_gj,
                "scenario_heat_loss_gj": self.scenario.heat_loss_gj, "saved_gj": self.saved_gj,
                "price_yuan_per_gj": str(self.price_yuan_per_gj), "saved_yuan": str(self.saved_yuan),
                "base_heat_loss_pct": self.base.loss_pct, "scenario_heat_loss_pct": self.scenario.loss_pct,
                "price_source": heat_value()["source"], "pipes_replaced": len(self.replaced),
                "pipes_already_preinsulated": list(self.already_preinsulated),
                "note_zh": self.note_zh, "note_en": self.note_en}

    @property
    def note_en(self) -> str:
        """Why (part of) the pipe replacement saves nothing; empty when every chosen pipe is improved."""
        n, k = len(self.replaced), len(self.already_preinsulated)
        if not k:
            return ""
        return (f"{k} of the {n} pipes to replace {'is' if n == 1 else 'are'} already pre-insulated (U' at the "
                f"catalogue value); no saving from replacing {'it' if k == 1 else 'them'}")

    @property
    def note_zh(self) -> str:
        n, k = len(self.replaced), len(self.already_preinsulated)
        if not k:
            return ""
        return f"拟更换的 {n} 条管段中有 {k} 条已是预制保温管（线热损失系数已达目录值），更换这些管段没有节能量"


def renovation(net: Network, season: SeasonConditions, *, replace: Sequence[str] = (), supply_offset_k: float = 0.0,
               price_yuan_per_gj: Decimal | None = None, options: dict | None = None,
               base: SeasonalLoss | None = None) -> RenovationResult:
    """Seasonal GJ and yuan saved by replacing ``replace`` pipes and/or shifting the supply temperature."""
    price = price_yuan_per_gj if price_yuan_per_gj is not None else Decimal(str(heat_value()["price_yuan_per_gj"]))
    base = base or seasonal_heat_loss(net, season, options=options)
    replace = list(dict.fromkeys(str(p) for p in replace))
    done = already_preinsulated(net, replace) if replace else []
    scen_net = replace_pipes(net, replace) if replace else net
    scen = seasonal_heat_loss(scen_net, season, options=options, supply_offset_k=supply_offset_k)
    parts = []
    if replace:
        parts.append(f"replace {len(replace)} pipe(s) with pre-insulated pipe")
    if supply_offset_k:
        parts.append(f"supply temperature {supply_offset_k:+g} K")
    return RenovationResult(base=base, scenario=scen, price_yuan_per_gj=price,
                            description="; ".join(parts) or "no change", replaced=tuple(replace),
                            already_preinsulated=tuple(done))
