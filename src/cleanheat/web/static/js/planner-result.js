// Planner result page: rates, option mix, emissions, cost and the schematic area map.
// Area names come from uploaded area files: every tooltip text goes through esc().
(function () {
  "use strict";
  const esc = window.cleanheat.esc;
  const PAGE = window.cleanheat.data("result-data");
  const S = PAGE.s, LANG = PAGE.lang, OPT = PAGE.opt, COL = PAGE.colours, TYPES = PAGE.types, POINTS = PAGE.points;
  const yrs = S.years.map(String);
  const nm = (code) => (OPT[code] ? OPT[code][LANG === "en" ? 1 : 0] : code);
  const tn = (at) => (TYPES[at] ? TYPES[at][LANG === "en" ? 1 : 0] : at);
  const tyc = {urban: "#c23531", county_fringe: "#2f4554", rural: "#61a0a8", city: "#d48265"};
  // every series named in a plain column on the right (no paging, long names wrap)
  const SIDE = {type: "plain", orient: "vertical", right: 4, top: "middle", itemGap: 7, itemWidth: 18, itemHeight: 10, textStyle: {fontSize: 11, width: 150, overflow: "break", lineHeight: 13}};
  const SIDE_GRID = 190;
  function chart(id, opt) {
    const el = document.getElementById(id);
    if (!el) return;
    const c = echarts.init(el);
    c.setOption(Object.assign({animation: false}, opt));
    window.addEventListener("resize", () => c.resize());
    el.dataset.ready = "1";
  }
  const rateSeries = [];
  for (const at of Object.keys(S.rates)) {
    rateSeries.push({name: tn(at), type: "line", data: yrs.map(y => +(S.rates[at][y] * 100).toFixed(1)), itemStyle: {color: tyc[at]}});
    if (S.rate_targets[at]) rateSeries.push({name: tn(at) + (LANG === "en" ? " target" : " 目标"), type: "line", lineStyle: {type: "dashed"}, symbol: "none", itemStyle: {color: tyc[at]}, data: yrs.map(y => S.rate_targets[at][y] == null ? null : +(S.rate_targets[at][y] * 100).toFixed(1))});
  }
  chart("chart-rates", {tooltip: {trigger: "axis", valueFormatter: v => v == null ? "–" : v + "%"}, legend: SIDE, grid: {left: 40, right: SIDE_GRID, top: 20, bottom: 30}, xAxis: {type: "category", data: yrs}, yAxis: {type: "value", max: 100, axisLabel: {formatter: "{value}%"}}, series: rateSeries});
  const mixCodes = Object.keys(S.option_mix_m2).sort((a, b) => S.option_mix_m2[b][yrs[yrs.length - 1]] - S.option_mix_m2[a][yrs[yrs.length - 1]]);
  chart("chart-mix", {tooltip: {trigger: "axis"}, legend: SIDE, grid: {left: 55, right: SIDE_GRID, top: 20, bottom: 30}, xAxis: {type: "category", data: yrs}, yAxis: {type: "value"},
    series: mixCodes.map(c => ({name: nm(c), type: "bar", stack: "mix", itemStyle: {color: COL[c]}, data: yrs.map(y => Math.round(S.option_mix_m2[c][y] / 1e4))}))});
  const pol = [["co2_t", "CO2"], ["pm_kg", "PM"], ["so2_kg", "SO2"], ["nox_kg", "NOx"]];
  chart("chart-emissions", {tooltip: {trigger: "axis", valueFormatter: v => v + "%"}, legend: {bottom: 0}, grid: {left: 40, right: 10, top: 20, bottom: 50}, xAxis: {type: "category", data: [LANG === "en" ? "baseline" : "现状", ...yrs]}, yAxis: {type: "value", axisLabel: {formatter: "{value}%"}},
    series: pol.map(([k, n]) => ({name: n, type: "bar", data: [100, ...yrs.map(y => +(100 * S.emissions[y][k] / S.baseline.emissions[k]).toFixed(1))]}))});
  chart("chart-cost", {tooltip: {trigger: "axis"}, legend: {bottom: 0}, grid: {left: 50, right: 10, top: 20, bottom: 50}, xAxis: {type: "category", data: yrs}, yAxis: {type: "value"},
    series: [["investment_yuan", LANG === "en" ? "investment" : "投资"], ["subsidy_yuan", LANG === "en" ? "subsidy" : "补贴"], ["annual_cost_yuan", LANG === "en" ? "annual heating cost" : "年取暖成本"]].map(([k, n]) => ({name: n, type: k === "annual_cost_yuan" ? "line" : "bar", data: S.by_year.map(d => +(d[k] / 1e8).toFixed(2))}))});
  if (POINTS.length) {
    const byOpt = {};
    for (const p of POINTS) (byOpt[p.option] = byOpt[p.option] || []).push([p.lon, p.lat, p.area, p.name, p.share, p.code]);
    const maxA = Math.max(...POINTS.map(p => p.area));
    const unit = LANG === "en" ? "10⁴ m²" : "万m²";
    chart("chart-map", {tooltip: {formatter: p => `${esc(p.data[3])}<br>${esc(p.seriesName)} ${(p.data[4] * 100).toFixed(0)}%<br>${(p.data[2] / 1e4).toFixed(1)} ${unit}`},
      legend: SIDE, grid: {left: 50, right: SIDE_GRID, top: 30, bottom: 30},
      xAxis: {type: "value", scale: true, name: "°E"}, yAxis: {type: "value", scale: true, name: "°N"},
      series: Object.entries(byOpt).map(([o, d]) => ({name: nm(o), type: "scatter", data: d, itemStyle: {color: COL[o], opacity: 0.75}, symbolSize: v => 4 + 22 * Math.sqrt(v[2] / maxA)}))});
  }
})();
