// Programme: one district/county's reported (solid) and verified (dashed) clean-heating rates by quarter.
(function () {
  "use strict";
  const D = window.cleanheat.data("unit-data");
  const S = D.series;
  const pct = v => v == null ? null : Math.round(v * 1000) / 10;
  const c = echarts.init(document.getElementById("chart"));
  c.setOption({tooltip: {trigger: "axis", valueFormatter: v => v == null ? "—" : v + "%"}, legend: {}, grid: {left: 40, right: 10, bottom: 50},
    xAxis: {type: "category", data: S.map(s => s.period), axisLabel: {rotate: 45}}, yAxis: {type: "value", axisLabel: {formatter: "{value}%"}},
    series: D.keys.map(k => ({name: D.labels[k], type: "line", data: S.map(s => s[k] ? pct(s[k][0]) : null)})).concat(
      D.keys.map(k => ({name: D.labels[k] + " " + D.verified, type: "line", lineStyle: {type: "dashed"}, symbol: "none",
                        data: S.map(s => s[k] ? pct(s[k][2]) : null)})))});
  window.addEventListener("resize", () => c.resize());
})();
