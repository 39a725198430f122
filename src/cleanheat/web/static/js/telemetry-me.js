// Resident page: the room temperature of the last days against 18 °C.
(function () {
  "use strict";
  const data = window.cleanheat.data("room-data");
  echarts.init(document.getElementById("room-chart")).setOption({
    animation: false, tooltip: {trigger: "axis"}, grid: {left: 40, right: 10, top: 10, bottom: 30},
    xAxis: {type: "time", axisLabel: {formatter: (v) => window.cleanheatTime(v).slice(6, 11)}}, yAxis: {type: "value", scale: true},
    series: [{type: "line", showSymbol: false, data: data, markLine: {data: [{yAxis: 18}], symbol: "none", lineStyle: {color: "#c53030", type: "dashed"}}}]});
})();
