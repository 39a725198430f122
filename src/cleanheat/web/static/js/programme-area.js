// Programme: one area type's clean-heating rate per district/county against the target.
(function () {
  "use strict";
  const D = window.cleanheat.data("area-chart-data");
  const target = D.target;
  const c = echarts.init(document.getElementById("chart"));
  c.setOption({tooltip: {trigger: "axis", valueFormatter: v => v + "%"}, grid: {left: 50, right: 90, bottom: 10, top: 30, containLabel: true},
    xAxis: {type: "category", data: D.names, axisLabel: {rotate: 40, interval: 0}}, yAxis: {type: "value", axisLabel: {formatter: "{value}%"}},
    series: [{type: "bar", data: D.values.map(v => Math.round(v * 1000) / 10), itemStyle: {color: p => p.value >= target * 100 ? "#0b6e4f" : "#c53030"},
              markLine: {symbol: "none", data: [{yAxis: Math.round(target * 1000) / 10, name: D.target_label}], label: {position: "end", formatter: D.target_label + "\n{c}%"}}}]});
  window.addEventListener("resize", () => c.resize());
})();
