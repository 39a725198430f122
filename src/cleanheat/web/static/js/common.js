// Shared page helpers. Pages run no inline script (Content-Security-Policy script-src 'self'): each page's code is a
// file in /static/js/ and reads its server data from <script type="application/json" id="..."> blocks.
(function () {
  "use strict";
  const ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;"};

  // Escape text for HTML: use it for everything user-provided that goes into innerHTML or an ECharts tooltip
  // formatter (ECharts puts a formatter's return value into the page as HTML).
  function esc(value) {
    if (value === null || value === undefined) return "";
    return String(value).replace(/[&<>"'`]/g, (c) => ESC[c]);
  }

  // The JSON data block with this id (null when the page has none).
  function data(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  window.cleanheat = Object.assign(window.cleanheat || {}, {esc: esc, data: data});

  // top bar: never wrap. Entries that do not fit move into "更多 / More" from the end of the bar in one fixed order
  // (the highlighted entry stays); the bar and the menu always list their entries in the menu's own order
  // (data-nav-i), so resizing down and up again gives the same bar at the same width. Entries the server put into
  // "more" (data-pinned: secondary ones such as the audit log) stay there.
  function fitNav() {
    const nav = document.querySelector("header.top nav.main");
    if (!nav) return;
    const links = nav.querySelector(".links"), more = nav.querySelector("details.more"), menu = more.querySelector(".menu");
    const summary = more.querySelector("summary");
    const all = [...nav.querySelectorAll("a[data-nav-i]")].sort((a, b) => a.dataset.navI - b.dataset.navI);
    const movable = all.filter((a) => !a.hasAttribute("data-pinned") && !a.classList.contains("active")).reverse();
    function place(k) {
      const moved = new Set(movable.slice(0, k));
      for (const a of all) (moved.has(a) || a.hasAttribute("data-pinned") ? menu : links).appendChild(a);
      more.hidden = menu.children.length === 0;
    }
    function fit() {
      let k = 0;
      place(0);
      while (links.scrollWidth > links.clientWidth + 1 && k < movable.length) place(++k);
      if (links.scrollWidth > links.clientWidth + 1) {  // a phone: not even the highlighted entry fits
        for (const a of all) menu.appendChild(a);
        more.hidden = false;
      }
      summary.classList.toggle("active", !!menu.querySelector("a.active"));
      nav.dataset.fittedWidth = String(window.innerWidth);  // the width the bar was last laid out for
    }
    fit();
    window.addEventListener("resize", fit);
    if (document.fonts) document.fonts.ready.then(fit);
    document.addEventListener("click", (e) => { if (more.open && !more.contains(e.target)) more.open = false; });
  }

  // Declarative behaviours instead of inline handlers:
  //   <form data-confirm="text">            asks before submitting
  //   <a data-back href="/">                goes back in the history (the href is the fallback)
  //   <select data-period-picker>           "2021Q3" -> ?year=2021&quarter=3 on the current page
  //   <button data-download-list="#id">     saves the items of that list as a text file (a refused upload's issues)
  //   <input type="file"> in any form        a file over the upload limit (body[data-upload-max-bytes]) is refused
  //                                          on the page before it is sent, with a message beside the field
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });
  document.addEventListener("submit", (e) => {
    if (!tooLarge(e.target)) return;
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);
  document.addEventListener("click", (e) => {
    const b = e.target.closest("[data-download-list]");
    if (b) downloadList(b);
  });
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-back]");
    if (a && window.history.length > 1) { e.preventDefault(); window.history.back(); }
  });
  document.addEventListener("change", (e) => {
    const sel = e.target.closest("select[data-period-picker]");
    if (!sel) return;
    const [y, q] = sel.value.split("Q");
    const u = new URL(window.location.href);
    u.searchParams.set("year", y);
    u.searchParams.set("quarter", q);
    window.location.href = u.toString();
  });

  function tooLarge(form) {
    const max = Number(document.body.dataset.uploadMaxBytes || 0);
    if (!max || !form.querySelectorAll) return false;
    let refused = false;
    for (const input of form.querySelectorAll("input[type=file]")) {
      let note = input.parentElement.querySelector(".upload-refused");
      const big = [...(input.files || [])].find((f) => f.size > max);
      if (!big) { if (note) note.remove(); continue; }
      refused = true;
      if (!note) {
        note = document.createElement("p");
        note.className = "flash error upload-refused";
        note.setAttribute("role", "alert");
        input.insertAdjacentElement("afterend", note);
      }
      let size = (n) => (n / 1048576).toFixed(2) + " MB";
      if (size(big.size) === size(max)) size = (n) => n.toLocaleString("en-US") + " B";
      note.textContent = "未上传：文件 " + big.name + " 为 " + size(big.size) + "，超过上限 " + size(max) +
        " / not uploaded: " + big.name + " is " + size(big.size) + ", over the limit of " + size(max);
    }
    return refused;
  }

  function downloadList(button) {
    const items = [...document.querySelectorAll(button.dataset.downloadList + " li")].map((li) => li.textContent.trim());
    const head = button.closest(".flash") ? button.closest(".flash").querySelector(".flash-message") : null;
    const text = (head ? [head.textContent.trim(), ""] : []).concat(items).join("\r\n") + "\r\n";
    const url = URL.createObjectURL(new Blob(["\ufeff" + text], {type: "text/plain;charset=utf-8"}));
    const a = document.createElement("a");
    a.href = url;
    a.download = button.dataset.filename || "issues.txt";
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fitNav);
  else fitNav();
})();
