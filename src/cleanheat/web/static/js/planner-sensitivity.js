// Planner sensitivity result: the change of the discounted cost per case (case names come from scenario YAML).
(function () {
  "use strict";
  const PAGE = window.cleanheat.data("sensitivity-data");
  const S = PAGE.s;
  const el = document.getElementById("chart-sens");
  const c = echarts.init(el);
  const cases = S.cases;
  c.setOption({animation: false, tooltip: {trigger: "axis"}, grid: {left: 230, right: 30, top: 10, bottom: 30}, yAxis: {type: "category", data: cases.map(x => x.name), inverse: true}, xAxis: {type: "value", name: PAGE.axis_name},
    series: [{type: "bar", data: cases.map(x => +(x.cost_delta_yuan / 1e8).toFixed(2)), itemStyle: {color: p => p.value >= 0 ? "#c53030" : "#2f855a"}}]});
  el.dataset.ready = "1";
})();
