// Programme city overview: reported and verified rates against targets, the trend by quarter (verified dashed)
// and the technology mix; data from the #overview-data JSON block (CSP-safe).
(function () {
  "use strict";
  const esc = window.cleanheat.esc;
  const D = window.cleanheat.data("overview-data");
  const pct = v => v == null ? null : Math.round(v * 1000) / 10;
  const c1 = echarts.init(document.getElementById("chart-rates"));
  c1.setOption({tooltip: {trigger: "axis", valueFormatter: v => v + "%"}, legend: {}, grid: {left: 40, right: 10, bottom: 50},
    // every category labelled: long names wrap within their slot instead of being hidden
    xAxis: {type: "category", data: D.labels, axisLabel: {interval: 0, width: 110, overflow: "break", lineHeight: 14}}, yAxis: {type: "value", max: 100, axisLabel: {formatter: "{value}%"}},
    series: [{name: D.t_actual, type: "bar", data: D.actual.map(pct), itemStyle: {color: "#0b6e4f"}, label: {show: true, position: "top", formatter: "{c}%"}},
             {name: D.t_verified, type: "bar", data: D.verified.map(pct), itemStyle: {color: "#2b6cb0"}},
             {name: D.t_target, type: "bar", data: D.target.map(pct), itemStyle: {color: "#f2a541"}}]});
  const c2 = echarts.init(document.getElementById("chart-trend"));
  c2.setOption({tooltip: {trigger: "axis", valueFormatter: v => v + "%"}, legend: {data: D.labels}, grid: {left: 40, right: 10, bottom: 50},
    xAxis: {type: "category", data: D.trend.map(t => t.period), axisLabel: {rotate: 45}}, yAxis: {type: "value", axisLabel: {formatter: "{value}%"}},
    series: D.keys.map((k, i) => ({name: D.labels[i], type: "line", data: D.trend.map(t => pct(t[k]))})).concat(
      D.keys.map((k, i) => ({name: D.labels[i], type: "line", lineStyle: {type: "dashed"}, symbol: "none",
                             data: D.trend.map(t => pct(t[k + "_verified"]))})))});
  const c3 = echarts.init(document.getElementById("chart-tech"));
  c3.setOption({tooltip: {trigger: "item", formatter: p => esc(p.name) + ": " + (p.value / 1e4).toFixed(0) + " " + esc(D.t_wan) + " (" + p.percent + "%)"},
    series: [{type: "pie", radius: ["35%", "70%"], data: D.tech_names.map((n, i) => ({name: n, value: D.tech_areas[i]})), label: {formatter: "{b}\n{d}%"}}]});
  window.addEventListener("resize", () => { c1.resize(); c2.resize(); c3.resize(); });
})();
