"""Hand-computed values: water properties (IAPWS check values), friction factors, a single pipe, balances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cleanheat.network.errors import NetworkInputError, NonConvergenceError
from cleanheat.network.friction import colebrook, colebrook_laminar, friction_factor, nikuradse, swamee_jain
from cleanheat.network.model import Consumers, Network, Nodes, Pipes, Pumps, Sources, Valves
from cleanheat.network.solver import SolverOptions, solve
from cleanheat.network.water import iapws2008_viscosity, iapws_water, if97_region1, pandapipes_water

G = 9.81


def test_if97_region1_verification_values():
    # IAPWS-IF97 Table 5 (region 1 check values): v [m3/kg], h [kJ/kg], cp [kJ/(kg K)]
    rho, cp, h = if97_region1(np.array([300.0, 300.0, 500.0]), np.array([3e6, 80e6, 3e6]))
    assert 1 / rho == pytest.approx([0.100215168e-2, 0.971180894e-3, 0.120241800e-2], rel=1e-8)
    assert h / 1e3 == pytest.approx([0.115331273e3, 0.184142828e3, 0.975542239e3], rel=1e-8)
    assert cp / 1e3 == pytest.approx([0.417301218e1, 0.401008987e1, 0.465580682e1], rel=1e-8)


def test_iapws2008_viscosity_verification_values():
    # IAPWS R12-08 Table 4 (mu2 = 1 points): mu [uPa s]
    mu = iapws2008_viscosity(np.array([298.15, 298.15, 373.15]), np.array([998.0, 1200.0, 1000.0]))
    assert mu * 1e6 == pytest.approx([889.735100, 1437.649467, 307.883622], rel=1e-8)


def test_water_tables_valid_to_150c_and_enthalpy_consistent():
    w = iapws_water()
    t = np.array([283.15, 343.15, 403.15, 423.15])
    assert np.all(np.diff(w.density(t)) < 0) and w.density(423.15) == pytest.approx(917.0, abs=1.5)
    # h(T1) - h(T2) equals the secant cp times the difference, exactly
    assert w.enthalpy(403.15) - w.enthalpy(343.15) == pytest.approx(w.secant_cp(403.15, 343.15) * 60.0, rel=1e-12)
    assert w.secant_cp(350.0, 350.0) == pytest.approx(w.heat_capacity(350.0))


def test_pandapipes_tables_equal_pandapipes():
    import pandapipes as pp  # a dev dependency: its absence is an error, not a skip
    fluid = pp.create_empty_network(fluid="water").fluid
    t = np.linspace(280.0, 400.0, 25)  # includes linear extrapolation above 368 K
    w = pandapipes_water()
    assert w.density(t) == pytest.approx(fluid.get_density(t), rel=1e-12)
    assert w.viscosity(t) == pytest.approx(fluid.get_viscosity(t), rel=1e-12)
    assert w.heat_capacity(t) == pytest.approx(fluid.get_heat_capacity(t), rel=1e-12)


def test_friction_factors():
    lam, _ = colebrook(np.array([1e5]), np.array([1e-4]))
    # solves 1/sqrt(l) = -2 log10(2.51/(Re sqrt(l)) + k/(3.71 D)) to machine precision
    x = 1 / math.sqrt(lam[0])
    assert x == pytest.approx(-2 * math.log10(2.51 / (1e5 * math.sqrt(lam[0])) + 1e-4 / 3.71), rel=1e-12)
    assert lam[0] == pytest.approx(0.0185, abs=5e-4)  # Moody chart
    lam, _ = colebrook_laminar(np.array([1000.0, 3000.0, 1e5]), np.array([1e-4] * 3))
    assert lam[0] == pytest.approx(0.064)
    assert 64 / 2000 < lam[1] < colebrook(np.array([4000.0]), np.array([1e-4]))[0][0]
    # Re dlambda/dRe by finite differences, for every model
    re = np.array([800.0, 2500.0, 5e4, 1e6])
    rr = np.full(4, 2e-4)
    for f in (colebrook, colebrook_laminar, nikuradse, swamee_jain):
        lam, d = f(re, rr)
        lam2, _ = f(re * (1 + 1e-6), rr)
        assert d == pytest.approx((lam2 - lam) / 1e-6, rel=1e-4), f.__name__
    with pytest.raises(ValueError):
        friction_factor("blasius", re, rr)


def line_network(*, q_w=200e3, length_m=500.0, d_m=0.1, u=0.3, z=(0.0, 0.0), control="treturn", t_sup_c=90.0):
    """Source -> supply pipe -> consumer -> return pipe -> source (4 nodes)."""
    nodes = Nodes.build(4, id=["s0", "s1", "r1", "r0"], z_m=[z[0], z[1], z[1], z[0]],
                        side=["supply", "supply", "return", "return"])
    pipes = Pipes.build([0, 2], [1, 3], [length_m, length_m], [d_m, d_m], id=["sup", "ret"], roughness_m=[1e-4] * 2,
                        u_w_per_mk=[u, u], ground_temperature_k=[278.15] * 2, side=["supply", "return"])
    cons = Consumers.build([1], [2], [q_w], control=[control], return_temperature_k=[323.15], delta_t_k=[30.0])
    src = Sources.build([0], [3], [t_sup_c + 273.15], supply_pressure_pa=[6e5], lift_pa=[3e5])
    return Network(nodes=nodes, pipes=pipes, consumers=cons, sources=src, ground_temperature_k=278.15)


def test_single_pipe_analytic():
    net = line_network()
    r = solve(net)
    w = iapws_water()
    m = r.consumer_mdot_kg_s[0]
    t_in = r.node_t_k[1]
    # consumer: Q = m (h(T_in) - h(T_out)), T_out the return set point (the low-load smoothing of the
    # return-temperature law moves it by < 1e-3 K at this cooling)
    assert r.consumer_t_out_k[0] == pytest.approx(323.15, abs=1e-3)
    assert m * (w.enthalpy(t_in) - w.enthalpy(r.consumer_t_out_k[0])) == pytest.approx(200e3, rel=1e-9)
    # supply pipe outlet: exponential decay with the secant cp of the pipe
    cp = w.secant_cp(363.15, t_in)
    assert t_in == pytest.approx(278.15 + (363.15 - 278.15) * math.exp(-0.3 * 500 / (cp * m)), abs=1e-6)
    # heat loss of the supply pipe
    assert r.pipe_heat_loss_w[0] == pytest.approx(m * (w.enthalpy(363.15) - w.enthalpy(t_in)), rel=1e-9)
    # Darcy-Weisbach with the Colebrook factor at the pipe's Reynolds number
    rho = 0.5 * (w.density(363.15) + w.density(t_in))
    eta = w.viscosity(0.5 * (363.15 + t_in))
    a = math.pi * 0.1**2 / 4
    re = m * 0.1 / (eta * a)
    lam = colebrook_laminar(np.array([re]), np.array([1e-3]))[0][0]
    dp = lam * 500 / 0.1 * m * m / (2 * rho * a * a)
    assert r.node_p_pa[0] - r.node_p_pa[1] == pytest.approx(dp, rel=1e-8)
    assert r.node_p_pa[0] == 6e5 and r.node_p_pa[3] == pytest.approx(3e5)
    # energy: source heat = consumer heat + losses (exact with the enthalpy convention)
    s = r.summary()
    assert s["source_heat_w"] == pytest.approx(s["consumer_heat_w"] + s["heat_loss_pipes_w"], rel=1e-10)


def test_elevation_and_hot_water():
    # 130 °C supply (Harbin primary design), consumer 30 m above the source
    net = line_network(z=(0.0, 30.0), t_sup_c=130.0)
    r = solve(net)
    w = iapws_water()
    t_in = r.node_t_k[1]
    rho = 0.5 * (w.density(403.15) + w.density(t_in))
    air_drop = 101325 - 101325 * (1 - 30 * 0.0065 / 288.15) ** 5.255  # gauge pressures read against local air
    friction = r.node_p_pa[0] - r.node_p_pa[1] - rho * G * 30.0 + air_drop
    flat = solve(line_network(t_sup_c=130.0))
    assert friction == pytest.approx(flat.node_p_pa[0] - flat.node_p_pa[1], rel=1e-6)
    assert 390.0 < r.node_t_k[1] < 403.15  # above 100 °C, where pandapipes extrapolates its tables


def meshed_two_source_network():
    """A ring main fed by a pressure source and a flow source, six consumers, plus a closed valve and a pump."""
    n_ring = 6
    ids = [f"S{i}" for i in range(n_ring)] + [f"R{i}" for i in range(n_ring)] + ["S_src2", "R_src2", "S_x", "R_x"]
    nodes = Nodes.build(len(ids), id=ids, x_m=np.arange(len(ids)) * 10.0)
    f, t, L = [], [], []
    for side in (0, n_ring):
        for i in range(n_ring):
            a, b = side + i, side + (i + 1) % n_ring
            f, t = f + ([a] if side == 0 else [b]), t + ([b] if side == 0 else [a])
            L.append(200.0 + 30 * i)
    f += [12, 3 + n_ring]  # second source connects to ring node 3 (supply) and R3 (return)
    t += [3, 13]
    L += [150.0, 150.0]
    pipes = Pipes.build(f, t, L, [0.15] * len(f), u_w_per_mk=[0.4] * len(f), ground_temperature_k=[278.15] * len(f))
    cons = Consumers.build([1, 2, 4, 5, 0, 3], [7, 8, 10, 11, 6, 9], [300e3, 250e3, 400e3, 150e3, 100e3, 200e3],
                           return_temperature_k=[323.15] * 6)
    src = Sources.build([0, 12], [6, 13], [363.15, 358.15], kind=["pressure", "flow"],
                        supply_pressure_pa=[7e5, np.nan], lift_pa=[3e5, np.nan], mass_flow_kg_s=[np.nan, 3.0])
    pumps = Pumps.build([14], [15], [0.5e5], [5.0])  # a booster on an isolated spur (stagnant)
    valves = Valves.build([2], [14], [0.1], [2.0], open=[False])
    return Network(nodes=nodes, pipes=pipes, consumers=cons, sources=src, pumps=pumps, valves=valves)


def test_two_sources_mesh_balances():
    net = meshed_two_source_network()
    # the spur behind the closed valve is not connected to any pressure: an explicit error
    with pytest.raises(Exception, match="not connected"):
        solve(net)
    net = net.replace(valves=Valves.build([2], [14], [0.1], [2.0], open=[True]),
                      pumps=Pumps.build([14], [15], [0.5e5], [5.0]))
    net = net.replace(pipes=Pipes.build(
        np.concatenate([net.pipes.from_node, [15]]), np.concatenate([net.pipes.to_node, [8]]),
        np.concatenate([net.pipes.length_m, [50.0]]), np.concatenate([net.pipes.inner_diameter_m, [0.05]]),
        u_w_per_mk=np.concatenate([net.pipes.u_w_per_mk, [0.2]]),
        ground_temperature_k=np.full(len(net.pipes) + 1, 278.15)))
    r = solve(net)
    n = net.n_nodes
    arr_f = np.concatenate([net.pipes.from_node, net.pumps.from_node, net.valves.from_node])
    arr_t = np.concatenate([net.pipes.to_node, net.pumps.to_node, net.valves.to_node])
    m = r.branch_mdot_kg_s
    bal = np.zeros(n)
    np.add.at(bal, arr_f, -m)
    np.add.at(bal, arr_t, m)
    np.add.at(bal, net.consumers.supply_node, -r.consumer_mdot_kg_s)
    np.add.at(bal, net.consumers.return_node, r.consumer_mdot_kg_s)
    np.add.at(bal, net.sources.supply_node, r.source_mdot_kg_s)
    np.add.at(bal, net.sources.return_node, -r.source_return_mdot_kg_s)
    assert np.max(np.abs(bal)) < 1e-9
    assert r.source_mdot_kg_s[1] == pytest.approx(3.0)
    # energy balance at every node without a fixed temperature (enthalpy flows in = out)
    w = iapws_water()
    h_in = np.zeros(n)
    h_out = np.zeros(n)
    out_t = r.branch_t_out_k
    up = np.where(m >= 0, arr_f, arr_t)
    dn = np.where(m >= 0, arr_t, arr_f)
    np.add.at(h_in, dn, np.abs(m) * w.enthalpy(out_t))
    np.add.at(h_out, up, np.abs(m) * w.enthalpy(r.node_t_k[up]))
    np.add.at(h_in, net.consumers.return_node, r.consumer_mdot_kg_s * w.enthalpy(r.consumer_t_out_k))
    np.add.at(h_out, net.consumers.supply_node, r.consumer_mdot_kg_s * w.enthalpy(r.consumer_t_in_k))
    free = np.ones(n, bool)
    free[net.sources.supply_node] = False
    free[net.sources.return_node] = False
    assert np.max(np.abs(h_in - h_out)[free]) < 1e-3  # W, of MW-size flows
    s = r.summary()
    assert s["source_heat_w"] == pytest.approx(s["consumer_heat_w"] + s["heat_loss_pipes_w"], rel=1e-9)
    assert s["consumer_heat_w"] == pytest.approx(1.4e6, rel=1e-9)


@pytest.mark.parametrize("fraction", [0.0, 1e-4, 0.01, 0.05, 1.0])
def test_zero_and_low_load(fraction):
    net = line_network()
    net = net.replace(consumers=net.consumers.replace(heat_w=net.consumers.heat_w * fraction))
    r = solve(net)
    s = r.summary()
    if fraction == 0.0:
        assert s["source_mdot_kg_per_s"] == 0.0
        assert any(w.code == "stagnant" for w in r.warnings)
        assert r.node_t_k[1] == pytest.approx(278.15)  # stagnant parts take the ground temperature
    else:
        assert s["consumer_heat_w"] == pytest.approx(200e3 * fraction, rel=1e-6)
    if fraction == 1e-4:  # the water arrives colder than the return set point: flagged
        assert any(w.code == "consumer_temperature" for w in r.warnings)


def test_nonconvergence_carries_residuals():
    with pytest.raises(NonConvergenceError) as exc:
        solve(line_network(), {"max_iter_coupled": 2})
    assert exc.value.stage == "coupled" and len(exc.value.residuals) == 2 and exc.value.residual_unit == "K"


def test_options_validated():
    with pytest.raises(ValueError, match="unknown solver option"):
        SolverOptions.make({"tolerance": 1})
    with pytest.raises(ValueError):
        SolverOptions.make({"friction_model": "moody"})
    o = SolverOptions.make(pandapipes_compatible=True)
    assert (o.friction_model, o.water, o.cp_convention) == ("colebrook", "pandapipes", "mean")


def test_invalid_model_lists_every_problem():
    net = line_network()
    bad = net.replace(pipes=net.pipes.replace(length_m=np.array([-1.0, 10.0]),
                                              inner_diameter_m=np.array([0.1, 0.0])))
    with pytest.raises(NetworkInputError) as exc:
        bad.validate("x.json")
    msgs = [(i.sheet, i.row, i.message) for i in exc.value.issues]
    assert ("pipes", 0, "length_m must be > 0") in msgs and ("pipes", 1, "inner_diameter_m must be > 0") in msgs


def test_level_schedule_parallel_edges_and_paired_solve():
    """Kahn's levels count parallel edges once each (two pipes between the same nodes), and the paired sweep
    solves both systems exactly like a dense triangular solve."""
    from cleanheat.network.thermal import LevelSchedule, topological_levels

    u = np.array([0, 0, 1, 2, 2, 3, 1])
    v = np.array([1, 1, 2, 3, 4, 4, 4])  # 0 -> 1 twice
    levels = topological_levels(5, u, v)
    assert [sorted(lv.tolist()) for lv in levels] == [[0], [1], [2], [3], [4]]
    assert topological_levels(3, np.array([0, 1, 2]), np.array([1, 2, 0])) is None  # a cycle
    rng = np.random.default_rng(3)
    b1, b2 = rng.normal(size=5), rng.normal(size=5)
    c1, c2 = rng.normal(size=len(u)), rng.normal(size=len(u))
    sol = LevelSchedule(5, u, v, levels).solve_pair(b1, c1, b2, c2)
    for col, (b, c) in enumerate(((b1, c1), (b2, c2))):
        m = np.eye(5)
        np.add.at(m, (v, u), c)
        assert np.allclose(sol[:, col], np.linalg.solve(m, b), rtol=1e-12, atol=1e-12)
