// Alarms page: when the set of open alarms changes, reload the table in place.
(function () {
  "use strict";
  const shown = () => new Set([...document.querySelectorAll("tr[data-alarm]")].filter(r => r.dataset.state !== "cleared").map(r => r.dataset.alarm));
  window.cleanheatLive("alarms", async (snap) => {
    const open = new Set(snap.alarms.map(a => String(a.id)));
    const now = shown();
    const same = open.size === now.size && [...open].every(id => now.has(id));
    if (same) return;
    // the server-rendered (escaped) table of this page, parsed without running anything in it
    const html = await (await fetch(window.location.href)).text();
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("alarm-table");
    document.getElementById("alarm-table").replaceWith(fresh);
    window.htmx.process(fresh);
  });
})();
