// Network page: the drawing of the network coloured by a result, its tooltips, and the seasonal heat-loss chart.
// Ids, sides and names come from the uploaded file: everything put into a tooltip goes through esc().
(function () {
  "use strict";
  const esc = window.cleanheat.esc;
  const PAGE = window.cleanheat.data("network-data");
  const L = PAGE.labels;
  const el = document.getElementById("network-map");
  const chart = echarts.init(el);
  const byEl = document.getElementById("colour-by"), sideEl = document.getElementById("side");
  const palettes = {temperature: ["#313695", "#4575b4", "#74add1", "#fee090", "#f46d43", "#a50026"],
                    pressure: ["#f7fcb9", "#addd8e", "#41ab5d", "#006837", "#004529"],
                    loss: ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"]};
  let D = null, shown = [];
  const f = (v, d) => (v === null || v === undefined) ? "–" : Number(v).toFixed(d);

  function value(by, i) {
    const p = D.pipes;
    if (!("t_in_c" in p)) return null;
    if (by === "temperature") return (p.t_in_c[i] + p.t_out_c[i]) / 2;
    if (by === "pressure") return (p.p_from_pa[i] + p.p_to_pa[i]) / 2e5;
    return p.heat_loss_w_per_m[i];
  }
  function extent(xs, ys) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < xs.length; i++) { x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]); y0 = Math.min(y0, ys[i]); y1 = Math.max(y1, ys[i]); }
    return [x0, x1, y0, y1];
  }
  function range(lines) {
    let vmin = Infinity, vmax = -Infinity;  // (a loop: spreading 100,000 values into Math.min overflows the stack)
    for (const l of lines) if (l.value !== null && isFinite(l.value)) { vmin = Math.min(vmin, l.value); vmax = Math.max(vmax, l.value); }
    if (!isFinite(vmin)) { vmin = 0; vmax = 1; }
    if (vmax - vmin < 1e-9) { vmax = vmin + 1; }
    return [vmin, vmax];
  }
  // the pressure legend spans the pressures at the pipe ends, not only the pipes' mean values
  function pressureRange(idx) {
    const p = D.pipes;
    let lo = Infinity, hi = -Infinity;
    for (const i of idx) for (const v of [p.p_from_pa[i], p.p_to_pa[i]]) if (v !== null && isFinite(v)) { lo = Math.min(lo, v / 1e5); hi = Math.max(hi, v / 1e5); }
    return isFinite(lo) ? [lo, hi - lo < 1e-9 ? lo + 1 : hi] : null;
  }
  // a scale bar (metres per screen pixel at the current zoom) and a north arrow; drawings are in metres, north up
  function overlay() {
    const a = chart.convertFromPixel({gridIndex: 0}, [0, 0]), b = chart.convertFromPixel({gridIndex: 0}, [100, 0]);
    if (!a || !b) return;
    const mPerPx = Math.abs(b[0] - a[0]) / 100;
    if (!(mPerPx > 0)) return;
    const target = 110 * mPerPx, k = Math.pow(10, Math.floor(Math.log10(target)));
    const nice = [5, 2, 1].map(m => m * k).find(v => v <= target) || k;
    const px = nice / mPerPx, label = nice >= 1000 ? `${nice / 1000} km` : `${nice} m`;
    const top = el.clientHeight - 34;
    chart.setOption({graphic: [
      {id: "scale", type: "group", left: 24, top: top, silent: true, children: [
        {type: "rect", shape: {x: 0, y: 0, width: px / 2, height: 5}, style: {fill: "#1f2933"}},
        {type: "rect", shape: {x: px / 2, y: 0, width: px / 2, height: 5}, style: {fill: "#fff", stroke: "#1f2933"}},
        {type: "text", x: 0, y: 8, style: {text: "0", fill: "#1f2933", font: "11px sans-serif"}},
        {type: "text", x: px, y: 8, style: {text: label, fill: "#1f2933", font: "11px sans-serif", align: "center"}}]},
      {id: "north", type: "group", left: 26, top: 12, silent: true, children: [
        {type: "polygon", shape: {points: [[9, 0], [18, 24], [9, 18], [0, 24]]}, style: {fill: "#1f2933"}},
        {type: "text", x: 9, y: 27, style: {text: L.north, fill: "#1f2933", font: "bold 12px sans-serif", align: "center"}}]}]});
    el.dataset.scaleM = String(nice);
    el.dataset.scalePx = String(Math.round(px));
    el.dataset.north = "1";
  }
  function draw() {
    const by = byEl.value, side = sideEl.value, p = D.pipes, n = p.id.length;
    shown = [];
    for (let i = 0; i < n; i++) if (side === "all" || p.side[i] === side || !p.side[i] || p.side[i] === "other") shown.push(i);
    const lines = shown.map(i => ({coords: [[p.x1[i], p.y1[i]], [p.x2[i], p.y2[i]]], value: value(by, i), pipe: i}));
    let [vmin, vmax] = range(lines);
    if (by === "pressure" && "p_from_pa" in p) { const r = pressureRange(shown); if (r) [vmin, vmax] = r; }
    // keep the drawing to scale: expand the shorter axis so that one metre is as long on both
    const ex = extent(p.x1.concat(p.x2), p.y1.concat(p.y2));
    const W = el.clientWidth - 140, H = el.clientHeight - 40;
    const sc = Math.max((ex[1] - ex[0]) / W, (ex[3] - ex[2]) / H) * 1.04 || 1;
    const cx = (ex[0] + ex[1]) / 2, cy = (ex[2] + ex[3]) / 2;
    const c = D.consumers, s = D.sources;
    chart.setOption({
      animation: false,
      grid: {left: 20, right: 120, top: 20, bottom: 20},
      xAxis: {type: "value", min: cx - sc * W / 2, max: cx + sc * W / 2, show: false},
      yAxis: {type: "value", min: cy - sc * H / 2, max: cy + sc * H / 2, show: false},
      dataZoom: [{type: "inside", xAxisIndex: 0, filterMode: "none"}, {type: "inside", yAxisIndex: 0, filterMode: "none"}],
      visualMap: {type: "continuous", seriesIndex: 0, min: vmin, max: vmax, calculable: true, right: 10, top: "middle",
                  precision: by === "pressure" ? 2 : 1, text: [L[by], ""], inRange: {color: palettes[by]}},
      tooltip: {trigger: "item", confine: true, formatter: tip},
      series: [
        {type: "lines", name: "pipes", coordinateSystem: "cartesian2d", data: lines, z: 2,
         lineStyle: {width: 3, opacity: 0.95}, emphasis: {lineStyle: {width: 7}}},
        {type: "scatter", name: "consumers", symbol: "rect", symbolSize: 7, z: 3, itemStyle: {color: "#1f2933"},
         data: c.id.map((id, k) => [c.x[k], c.y[k], k])},
        {type: "scatter", name: "sources", symbol: "triangle", symbolSize: 20, z: 4, itemStyle: {color: "#c53030", borderColor: "#fff"},
         data: s.id.map((id, k) => [s.x[k], s.y[k], k])}
      ]
    }, true);
    el.dataset.ready = "1";
    el.dataset.colour = by;
    el.dataset.lines = String(lines.length);
    el.dataset.vmin = String(vmin);
    el.dataset.vmax = String(vmax);
    if (!/4326|CRS84/.test(D.crs || "")) overlay();  // (longitude / latitude drawings have no metre scale)
  }
  function pipeTip(i) {
    const p = D.pipes;
    const side = p.side[i] === "supply" ? L.supply : (p.side[i] === "return" ? L.ret : p.side[i]);
    let h = `<b>${esc(L.pipe)} ${esc(p.id[i])}</b> (${esc(side)}${p.dn[i] ? ", DN " + esc(p.dn[i]) : ""})<br>${esc(L.length)} ${f(p.length_m[i], 1)} m`;
    if ("t_in_c" in p) {
      h += `<br>${esc(L.flow)} ${f(p.mdot_kg_s[i], 3)} kg/s · ${esc(L.velocity)} ${f(Math.abs(p.velocity_m_s[i]), 2)} m/s` +
           `<br>${esc(L.tin)} ${f(p.t_in_c[i], 2)} / ${f(p.t_out_c[i], 2)} °C` +
           `<br>${esc(L.p)} ${f(p.p_from_pa[i] / 1e5, 3)} / ${f(p.p_to_pa[i] / 1e5, 3)} bar` +
           `<br>${esc(L.hl)} ${f(p.heat_loss_w[i] / 1e3, 3)} kW (${f(p.heat_loss_w_per_m[i], 1)} W/m)`;
    }
    return h;
  }
  function consumerTip(k) {
    const c = D.consumers;
    let h = `<b>${esc(L.consumer)} ${esc(c.id[k])}</b><br>${esc(L.heat)} ${f(c.heat_w[k] / 1e3, 1)} kW`;
    if (c.r_mdot_kg_s && c.r_mdot_kg_s.length) h += `<br>${esc(L.flow)} ${f(c.r_mdot_kg_s[k], 3)} kg/s<br>${esc(L.tin)} ${f(c.r_t_in_c[k], 1)} / ${f(c.r_t_out_c[k], 1)} °C<br>${esc(L.dp)} ${f(c.r_dp_bar[k], 3)} bar`;
    return h;
  }
  function sourceTip(k) {
    const s = D.sources;
    let h = `<b>${esc(L.source)} ${esc(s.id[k])}</b><br>${esc(L.tsup)} ${f(s.supply_temperature_c[k], 1)} °C`;
    if (s.r_mdot_kg_s && s.r_mdot_kg_s.length) h += `<br>${esc(L.tret)} ${f(s.r_t_return_c[k], 1)} °C<br>${esc(L.flow)} ${f(s.r_mdot_kg_s[k], 2)} kg/s<br>${esc(L.heat)} ${f(s.r_heat_w[k] / 1e6, 3)} MW<br>${esc(L.pump)} ${f(s.r_pump_power_w[k] / 1e3, 2)} kW`;
    return h;
  }
  function tip(prm) {
    if (prm.seriesName === "pipes") return pipeTip(prm.data.pipe);
    if (prm.seriesName === "consumers") return consumerTip(prm.data[2]);
    return sourceTip(prm.data[2]);
  }

  fetch(PAGE.map_url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(r => r.json()).then(d => {
    D = d;
    if (!d.has_coordinates) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = L.nocoords;
      el.replaceChildren(note);
      el.style.height = "auto";
      return;
    }
    draw();
  });
  chart.on("datazoom", () => { if (D && D.has_coordinates && !/4326|CRS84/.test(D.crs || "")) overlay(); });
  byEl.addEventListener("change", () => D && draw());
  sideEl.addEventListener("change", () => D && draw());
  window.addEventListener("resize", () => { if (D && D.has_coordinates) { chart.resize(); draw(); } });
  // hovering a row of the worst-pipes table highlights the pipe on the map
  document.querySelectorAll("#worst-pipes tbody tr").forEach(tr => {
    tr.addEventListener("mouseenter", () => {
      const k = shown.indexOf(Number(tr.dataset.pipeIndex));
      if (k >= 0) { chart.dispatchAction({type: "highlight", seriesIndex: 0, dataIndex: k}); chart.dispatchAction({type: "showTip", seriesIndex: 0, dataIndex: k}); }
    });
    tr.addEventListener("mouseleave", () => { chart.dispatchAction({type: "downplay", seriesIndex: 0}); chart.dispatchAction({type: "hideTip"}); });
  });

  if (PAGE.bins) {
    const bins = PAGE.bins;
    const sc = echarts.init(document.getElementById("seasonal-chart"));
    sc.setOption({tooltip: {trigger: "axis"}, grid: {left: 55, right: 55, top: 30, bottom: 40},
      legend: {data: [L.season_loss, L.season_hours]},
      xAxis: {type: "category", name: "°C", data: bins.map(b => b.t_out_c.toFixed(1))},
      yAxis: [{type: "value", name: "GJ"}, {type: "value", name: "h"}],
      series: [{type: "bar", name: L.season_loss, itemStyle: {color: "#e31a1c"}, data: bins.map(b => +(b.heat_loss_kw * b.hours * 3.6e-3).toFixed(1))},
               {type: "line", name: L.season_hours, yAxisIndex: 1, itemStyle: {color: "#52606d"}, data: bins.map(b => b.hours)}]});
    window.addEventListener("resize", () => sc.resize());
  }
})();
