// Room-temperature compliance per building (building codes come from the asset registry).
(function () {
  "use strict";
  const D = window.cleanheat.data("compliance-data");
  echarts.init(document.getElementById("rate-chart")).setOption({
    animation: false, tooltip: {}, grid: {left: 50, right: 40, top: 20, bottom: 10, containLabel: true},
    xAxis: {type: "category", data: D.codes, axisLabel: {rotate: 40, interval: 0}},
    yAxis: {type: "value", max: 100, axisLabel: {formatter: "{value}%"}},
    series: [{type: "bar", data: D.rates.map(r => r === null ? null : Math.round(r * 1000) / 10),
              itemStyle: {color: (p) => p.value < 90 ? "#c53030" : "#0b6e4f"},
              markLine: {data: [{yAxis: 90}], symbol: "none", label: {position: "end", formatter: "{c}%"}, lineStyle: {type: "dashed"}}}]});
})();
