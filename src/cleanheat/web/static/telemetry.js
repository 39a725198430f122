// Live updates for the telemetry pages: subscribe to /telemetry/stream and hand each snapshot to a callback.
// EventSource reconnects by itself; the dot in the page header shows whether the stream is connected.
window.cleanheatLive = function (scope, onSnapshot) {
  const dot = document.getElementById("live-dot");
  const es = new EventSource("/telemetry/stream?scope=" + encodeURIComponent(scope));
  es.addEventListener("snapshot", (ev) => { onSnapshot(JSON.parse(ev.data)); });
  es.onopen = () => dot && dot.classList.add("on");
  es.onerror = () => dot && dot.classList.remove("on");
  return es;
};
window.cleanheatSet = function (el, text, fresh) {
  if (!el) return;
  if (el.textContent !== text) {
    el.textContent = text;
    el.classList.remove("flashcell"); void el.offsetWidth; el.classList.add("flashcell");
  }
  el.classList.toggle("stale", fresh === false);
};
window.cleanheatFmt = function (v, digits) {
  return (v === null || v === undefined) ? "–" : Number(v).toFixed(digits === undefined ? 1 : digits);
};
const _fmt = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
// "MM-DD HH:MM:SS" in Harbin time (UTC+8), as the server renders it
window.cleanheatTime = function (ms) {
  if (!ms) return "–";
  const p = Object.fromEntries(_fmt.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
};
