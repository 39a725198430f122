// Resident page: the room temperature of the last days against 18 °C.
(function () {
  "use strict";
  const data = window.cleanheat.data("room-data");
  echarts.init(document.getElementById("room-chart")).setOption({
    animation: false, tooltip: {trigger: "axis"}, grid: {left: 40, right: 16, top: 24, bottom: 30, containLabel: true},
    xAxis: {type: "time", axisLabel: {formatter: (v) => window.cleanheatTime(v).slice(6, 11)}}, yAxis: {type: "value", scale: true, min: (v) => Math.floor(Math.min(v.min, 18) - 1), max: (v) => Math.ceil(Math.max(v.max, 18) + 1)},
    series: [{type: "line", showSymbol: false, data: data, markLine: {data: [{yAxis: 18}], symbol: "none", lineStyle: {color: "#c53030", type: "dashed"},
      label: {position: "insideEndTop", formatter: "18 ℃", color: "#c53030"}}}]});
})();
