// Station page: trends of the last hours from the API and live values from the stream.
(function () {
  "use strict";
  const PAGE = window.cleanheat.data("station-data");
  const stationId = PAGE.station_id, hours = PAGE.hours, names = PAGE.names;
  const set = window.cleanheatSet, fmt = window.cleanheatFmt, time = window.cleanheatTime;
  const temp = echarts.init(document.getElementById("temp-chart")), flow = echarts.init(document.getElementById("flow-chart"));
  function line(series, keys, yAxes) {
    return keys.filter(k => series[k]).map((k, i) => ({name: names[k], type: "line", showSymbol: false,
      yAxisIndex: yAxes ? yAxes[i] : 0, data: series[k].data.map(d => [d[0], d[1]])}));
  }
  async function loadTrends() {
    const r = await fetch(`/api/telemetry/stations/${encodeURIComponent(stationId)}/series?hours=${encodeURIComponent(hours)}`);
    if (!r.ok) return;
    const s = await r.json();
    document.getElementById("res-note").textContent = PAGE.resolution + " " + s.resolution;
    const base = {animation: false, tooltip: {trigger: "axis"}, legend: {top: 0}, grid: {left: 50, right: 50, top: 30, bottom: 30},
      xAxis: {type: "time", axisLabel: {hideOverlap: true,
        formatter: (v) => hours <= 48 ? time(v).slice(6, 11) : time(v).slice(0, 5)}}};
    temp.setOption({...base, yAxis: {type: "value", scale: true, name: "°C"},
      series: line(s.series, ["p_supply_temp_c", "p_return_temp_c", "s_supply_temp_c", "s_return_temp_c"])}, true);
    // one axis per quantity, each named with its unit: power left, flow and pressure right (pressure offset)
    const ax = (name, extra) => Object.assign({type: "value", scale: true, name, nameTextStyle: {align: "center"},
      axisLine: {show: true}, splitLine: {show: false}}, extra || {});
    flow.setOption({...base, grid: {left: 60, right: 120, top: 55, bottom: 30},
      yAxis: [ax("kW", {splitLine: {show: true}}), ax("kg/s", {position: "right", scale: false}),
              ax("kPa", {position: "right", offset: 60, scale: false})],
      series: line(s.series, ["heat_power_kw", "s_flow_kg_s", "s_supply_pressure_kpa"], [0, 1, 2])}, true);
  }
  loadTrends();
  setInterval(loadTrends, 60000);
  window.cleanheatLive("station:" + stationId, (snap) => {
    for (const [key, [value, ts, fresh]] of Object.entries(snap.values)) {
      const el = document.getElementById("v-" + key);
      if (!el) continue;
      set(el, fmt(value, key.endsWith("heat_energy_gj") ? 3 : 2), fresh);
      set(document.getElementById("t-" + key), ts ? time(ts) : "–");
    }
    set(document.getElementById("open-alarms"), String(snap.open_alarms.length));
  });
})();
