"""Stage 3: the immutable result of a solve, with per-element arrays, totals and warnings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from cleanheat.network.model import Network


@dataclass(frozen=True)
class Warning_:
    """One warning about the solved state: a code, Chinese and English text, affected element ids."""

    code: str
    message_zh: str
    message_en: str
    ids: list[str]

    def as_dict(self) -> dict:
        return {"code": self.code, "message_zh": self.message_zh, "message_en": self.message_en, "ids": self.ids}


@dataclass(frozen=True, eq=False)
class NetworkResult:
    network: Network
    options: Any
    pandapipes_compatible: bool
    water_name: str
    node_p_pa: np.ndarray  # gauge pressure [Pa]
    node_t_k: np.ndarray
    # branches = pipes, then pumps, then open valves (see n_pipes, n_pumps, valve_rows)
    branch_mdot_kg_s: np.ndarray  # signed, relative to from -> to
    branch_velocity_m_s: np.ndarray
    branch_dp_pa: np.ndarray  # p_from - p_to
    branch_t_in_k: np.ndarray  # inlet in flow direction
    branch_t_out_k: np.ndarray  # outlet in flow direction, before mixing
    branch_heat_loss_w: np.ndarray
    branch_reynolds: np.ndarray
    branch_lambda: np.ndarray
    branch_rho_kg_m3: np.ndarray
    n_pipes: int
    n_pumps: int
    valve_rows: np.ndarray
    consumer_mdot_kg_s: np.ndarray
    consumer_t_in_k: np.ndarray
    consumer_t_out_k: np.ndarray
    consumer_dp_pa: np.ndarray  # p_supply - p_return
    consumer_heat_w: np.ndarray  # delivered
    consumer_low_t: np.ndarray
    source_mdot_kg_s: np.ndarray  # delivered to the supply node
    source_return_mdot_kg_s: np.ndarray  # taken from the return node
    source_t_return_k: np.ndarray
    source_heat_w: np.ndarray
    source_pump_power_w: np.ndarray  # hydraulic power of the circulation pump
    source_dp_pa: np.ndarray
    iterations_coupled: int
    iterations_hydraulic: int
    residuals_k: list[float]
    solve_s: float
    stagnant_temperature_k: float
    warnings: list[Warning_]

    # --- pipe views (the first n_pipes branches)
    @property
    def pipe_mdot_kg_s(self) -> np.ndarray:
        return self.branch_mdot_kg_s[: self.n_pipes]

    @property
    def pipe_heat_loss_w(self) -> np.ndarray:
        return self.branch_heat_loss_w[: self.n_pipes]

    @property
    def pipe_t_out_k(self) -> np.ndarray:
        return self.branch_t_out_k[: self.n_pipes]

    @property
    def pipe_velocity_m_s(self) -> np.ndarray:
        return self.branch_velocity_m_s[: self.n_pipes]

    @property
    def pipe_dp_pa(self) -> np.ndarray:
        return self.branch_dp_pa[: self.n_pipes]

    def summary(self) -> dict[str, Any]:
        net = self.network
        q_src = float(np.sum(self.source_heat_w))
        q_cons = float(np.sum(self.consumer_heat_w))
        q_loss = float(np.sum(self.pipe_heat_loss_w))
        sides = net.pipes.side
        m = self.pipe_mdot_kg_s
        v = np.abs(self.pipe_velocity_m_s)
        length_km = float(np.sum(net.pipes.length_m)) / 1000.0
        out = {
            "converged": True,
            "n_nodes": int(net.n_nodes), "n_pipes": int(self.n_pipes), "n_consumers": int(len(net.consumers)),
            "n_sources": int(len(net.sources)),
            "source_mdot_kg_per_s": float(np.sum(self.source_mdot_kg_s)),
            "source_supply_temperature_c": float(np.average(net.sources.supply_temperature_k,
                                                            weights=np.maximum(self.source_mdot_kg_s, 1e-12))
                                                 - 273.15),
            "source_return_temperature_c": float(np.average(self.source_t_return_k,
                                                            weights=np.maximum(self.source_mdot_kg_s, 1e-12))
                                                 - 273.15),
            "source_heat_w": q_src,
            "consumer_heat_w": q_cons,
            "consumer_demand_w": float(np.sum(net.consumers.heat_w)),
            "heat_loss_balance_w": q_src - q_cons,
            "heat_loss_pipes_w": q_loss,
            "heat_loss_supply_w": float(np.sum(self.pipe_heat_loss_w[sides == "supply"])),
            "heat_loss_return_w": float(np.sum(self.pipe_heat_loss_w[sides == "return"])),
            "heat_loss_pct_of_source": 100.0 * q_loss / q_src if q_src > 0 else float("nan"),
            "pump_power_w": float(np.sum(self.source_pump_power_w)),
            "min_pressure_bar": float(np.nanmin(self.node_p_pa)) / 1e5 if net.n_nodes else float("nan"),
            "max_pressure_bar": float(np.nanmax(self.node_p_pa)) / 1e5 if net.n_nodes else float("nan"),
            "min_consumer_dp_bar": float(np.min(self.consumer_dp_pa)) / 1e5 if len(net.consumers) else float("nan"),
            "n_consumers_dp_below_min": int(np.sum(self.consumer_dp_pa < net.consumers.min_dp_pa)),
            "min_consumer_inlet_temperature_c": (float(np.min(self.consumer_t_in_k)) - 273.15
                                                 if len(net.consumers) else float("nan")),
            "max_velocity_m_per_s": float(np.max(v)) if len(v) else 0.0,
            "n_reverse_flow_pipes": int(np.sum(m < -1e-9)),
            "n_stagnant_pipes": int(np.sum(np.abs(m) <= self.options.stagnant_flow_kg_s)),
            "total_pipe_length_km": length_km,
            "heat_loss_w_per_m": q_loss / (length_km * 1000.0) if length_km else float("nan"),
            "iterations_coupled": self.iterations_coupled,
            "iterations_hydraulic": self.iterations_hydraulic,
            "solve_s": self.solve_s,
            "friction_model": self.options.friction_model,
            "water": self.water_name,
            "pandapipes_compatible": self.pandapipes_compatible,
        }
        return out
