// Alarms page: when the set of open alarms changes, reload this page's list (table and pager) in place.
(function () {
  "use strict";
  window.cleanheatLive("alarms", async (snap) => {
    const open = snap.alarms.map(a => String(a.id)).sort().join(",");
    const list = document.getElementById("alarm-list");
    if (!list || open === list.dataset.open) return;
    // the server-rendered (escaped) list of this page (same filters and page), parsed without running anything
    const html = await (await fetch(window.location.href)).text();
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("alarm-list");
    if (!fresh) return;
    list.replaceWith(fresh);
    window.htmx.process(fresh);
  });
})();
