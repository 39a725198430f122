// Emission monitoring point: hourly concentrations per pollutant against the limit, and the O2 trend.
(function () {
  "use strict";
  const data = window.cleanheat.data("point-data");
  const lang = document.documentElement.lang;
  const limitText = lang === "en" ? "limit" : "限值";
  const invalidText = lang === "en" ? "invalid hour" : "无效小时";
  for (const p of Object.keys(data.series)) {
    const el = document.getElementById("chart-" + p);
    const rows = data.series[p];
    const chart = echarts.init(el);
    const limit = data.limits[p];
    chart.setOption({
      title: {text: data.labels[p] + " (mg/m³)", left: 8, textStyle: {fontSize: 14}},
      tooltip: {trigger: "axis"},
      grid: {left: 50, right: 80, top: 40, bottom: 50, containLabel: true},
      xAxis: {type: "category", data: rows.map(r => r[0]), axisLabel: {hideOverlap: true}},
      yAxis: {type: "value", min: 0, max: v => Math.max(v.max, (limit || 0) * 1.15)},
      dataZoom: [{type: "inside"}, {type: "slider", height: 18, bottom: 6}],
      series: [{
        name: data.labels[p], type: "line", showSymbol: false, connectNulls: false,
        data: rows.map(r => ({value: r[2] ? r[1] : null})),
        lineStyle: {width: 1.5, color: "#0b6e4f"}, itemStyle: {color: "#0b6e4f"},
        markLine: limit ? {symbol: "none", data: [{yAxis: limit, name: limitText}],
                           lineStyle: {color: "#c53030", type: "dashed", width: 1.5},
                           label: {formatter: limitText + " " + limit, position: "end"}} : undefined,
      }, {
        name: invalidText, type: "scatter", symbolSize: 4,
        data: rows.map(r => r[2] ? null : r[1]), itemStyle: {color: "#9aa5b1"},
      }, {
        name: lang === "en" ? "over the limit" : "超标", type: "scatter", symbolSize: 6,
        data: rows.map(r => r[3] ? r[1] : null), itemStyle: {color: "#c53030"},
      }],
    });
    window.addEventListener("resize", () => chart.resize());
  }
  const o2 = echarts.init(document.getElementById("chart-o2"));
  o2.setOption({
    title: {text: lang === "en" ? "O2 (%)" : "氧含量 (%)", left: 8, textStyle: {fontSize: 13}},
    tooltip: {trigger: "axis"}, grid: {left: 40, right: 30, top: 35, bottom: 25, containLabel: true},
    xAxis: {type: "category", data: data.o2.map(r => r[0]), axisLabel: {hideOverlap: true}},
    yAxis: {type: "value", scale: true},
    series: [{type: "line", showSymbol: false, data: data.o2.map(r => r[1]), lineStyle: {color: "#52606d"}}],
  });
  window.addEventListener("resize", () => o2.resize());
})();
