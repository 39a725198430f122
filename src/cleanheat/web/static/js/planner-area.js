// Planner area appraisal: cost against particulate emissions (Pareto front) and the parts of the cost of heat.
(function () {
  "use strict";
  const esc = window.cleanheat.esc;
  const PAGE = window.cleanheat.data("area-data");
  const LANG = PAGE.lang, ROWS = PAGE.rows, heat = PAGE.heat_gj;
  const avail = ROWS.filter(r => r.available);
  const nm = r => LANG === "en" ? r.name_en : r.name_zh;
  function chart(id, opt) { const el = document.getElementById(id); const c = echarts.init(el); c.setOption(Object.assign({animation: false}, opt)); el.dataset.ready = "1"; }
  const point = r => [+r.lcoh_yuan_gj, Math.max(r.emissions.pm_kg, 1), nm(r)];
  chart("chart-pareto", {tooltip: {formatter: p => `${esc(p.data[2])}<br>LCOH ${p.data[0].toFixed(1)}<br>PM ${p.data[1].toFixed(0)} kg`}, grid: {left: 60, right: 20, top: 20, bottom: 40},
    xAxis: {type: "value", name: LANG === "en" ? "yuan/GJ" : "元/GJ", scale: true}, yAxis: {type: "log", name: "PM kg"},
    series: [{type: "scatter", symbolSize: 12, data: avail.filter(r => !r.pareto).map(point), itemStyle: {color: "#9aa5b1"}},
             {type: "scatter", symbol: "diamond", symbolSize: 16, data: avail.filter(r => r.pareto).map(point), itemStyle: {color: "#0b6e4f"}, label: {show: true, position: "right", formatter: p => p.data[2], fontSize: 10}}]});
  const parts = [["capital", LANG === "en" ? "capital" : "投资"], ["network", LANG === "en" ? "network" : "热网延伸"], ["om", LANG === "en" ? "O&M" : "运维"], ["energy", LANG === "en" ? "energy" : "能源"]];
  const sorted = avail.slice().sort((x, y) => (+x.lcoh_yuan_gj) - (+y.lcoh_yuan_gj));
  chart("chart-parts", {tooltip: {trigger: "axis"}, legend: {bottom: 0}, grid: {left: 170, right: 10, top: 10, bottom: 40}, yAxis: {type: "category", data: sorted.map(nm), inverse: true, axisLabel: {width: 160, overflow: "truncate"}}, xAxis: {type: "value"},
    series: parts.map(([k, n]) => ({name: n, type: "bar", stack: "c", data: sorted.map(r => +(r.cost_parts_yuan[k] / heat).toFixed(2))}))});
})();
