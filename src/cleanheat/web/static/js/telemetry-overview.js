// Live network overview: station values and states from the stream, and heat power per station.
(function () {
  "use strict";
  const PAGE = window.cleanheat.data("overview-data");
  const labels = PAGE.labels, lang = PAGE.lang;
  const set = window.cleanheatSet, fmt = window.cleanheatFmt, time = window.cleanheatTime;
  const chart = echarts.init(document.getElementById("power-chart"));
  function drawPower(stations) {
    chart.setOption({animation: false, grid: {left: 50, right: 10, top: 10, bottom: 30}, tooltip: {},
      xAxis: {type: "category", data: stations.map(s => s.code)}, yAxis: {type: "value"},
      series: [{type: "bar", data: stations.map(s => s.values.heat_power_kw === null ? 0 : Math.round(s.values.heat_power_kw)),
                itemStyle: {color: "#0b6e4f"}}]});
  }
  function updateRow(row, s) {
    for (const [k, v] of Object.entries(s.values)) {
      const digits = k.includes("flow") ? 2 : (k.includes("power") || k.includes("pressure")) ? 0 : 1;
      set(row.querySelector(`[data-f="${k}"]`), fmt(v, digits), v !== null);
    }
    const st = row.querySelector('[data-f="state"]');
    st.className = "state " + s.state;
    st.textContent = labels[s.state][lang === "zh" ? 0 : 1];
    set(row.querySelector('[data-f="alarms"]'), String(s.alarms));
    set(row.querySelector('[data-f="last"]'), s.last_ms ? time(s.last_ms) : "–");
  }
  window.cleanheatLive("overview", (snap) => {
    let online = 0, power = 0;
    for (const s of snap.stations) {
      const row = document.querySelector(`tr[data-station="${Number(s.station_id)}"]`);
      if (s.online) online++;
      if (s.values.heat_power_kw !== null) power += s.values.heat_power_kw;
      if (row) updateRow(row, s);
    }
    set(document.getElementById("c-online"), `${online} / ${snap.stations.length}`);
    set(document.getElementById("c-alarms"), String(snap.open_alarms));
    set(document.getElementById("c-power"), (power / 1000).toFixed(2));
    drawPower(snap.stations);
  });
})();
