// Programme office: billed and metered area [m²] by administrative unit, from billing data.
(function () {
  "use strict";
  const rows = window.cleanheat.data("metering-data");
  const esc = window.cleanheat.esc;
  const zh = document.documentElement.lang !== "en";
  const chart = echarts.init(document.getElementById("metering-chart"));
  chart.setOption({
    animation: false,
    legend: {top: 0},
    grid: {left: 8, right: 12, top: 36, bottom: 8, containLabel: true},
    tooltip: {trigger: "axis", formatter: (ps) => {
      const r = rows[ps[0].dataIndex];
      return esc(r.unit) + ps.map((p) => "<br>" + esc(p.seriesName) + ": " + esc(Math.round(p.value).toLocaleString()) + " m²").join("")
        + "<br>" + esc(zh ? "公共建筑计量 " : "public buildings metered ") + esc(r.metered_public) + " / " + esc(r.public);
    }},
    xAxis: {type: "category", data: rows.map((r) => r.unit), axisLabel: {interval: 0, rotate: rows.length > 4 ? 30 : 0}},
    yAxis: {type: "value", name: "m²"},
    series: [
      {type: "bar", name: zh ? "计费面积" : "Billed area", data: rows.map((r) => r.billed_m2), itemStyle: {color: "#a0aec0"}},
      {type: "bar", name: zh ? "计量面积" : "Metered area", data: rows.map((r) => r.metered_m2), itemStyle: {color: "#2f855a"}},
    ],
  });
  window.addEventListener("resize", () => chart.resize());
})();
