// Resident's bill: heat use by month [GJ] of the season (estimated intervals lighter, a two-month bar labelled).
(function () {
  "use strict";
  const d = window.cleanheat.data("month-data");
  const esc = window.cleanheat.esc;
  const zh = document.documentElement.lang !== "en";
  const labels = d.months.map((m, i) => (d.spans[i] > 1 ? m + " ×" + d.spans[i] : m));
  const bars = d.gj.map((v, i) => ({value: v, itemStyle: {color: d.estimated[i] ? "#a0aec0" : "#2b6cb0"}}));
  const chart = echarts.init(document.getElementById("month-chart"));
  chart.setOption({
    animation: false,
    grid: {left: 8, right: 12, top: 32, bottom: 8, containLabel: true},
    tooltip: {trigger: "axis", formatter: (ps) => {
      const p = ps[0], i = p.dataIndex;
      const note = d.estimated[i] ? (zh ? "（含估算读数）" : " (estimated read)") : "";
      const span = d.spans[i] > 1 ? (zh ? "，跨 " + d.spans[i] + " 个月" : ", " + d.spans[i] + " months") : "";
      return esc(labels[i]) + "<br>" + esc(p.value.toFixed(3)) + " GJ" + esc(span) + esc(note);
    }},
    xAxis: {type: "category", data: labels, axisLabel: {interval: 0, rotate: labels.length > 5 ? 40 : 0}},
    yAxis: {type: "value", name: "GJ"},
    series: [{type: "bar", data: bars, barMaxWidth: 36}],
  });
  window.addEventListener("resize", () => chart.resize());
})();
