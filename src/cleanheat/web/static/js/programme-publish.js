// 评价报告: PDF and Excel are generated on request and can take a few seconds; show progress meanwhile and
// save the file when it arrives. The web (HTML) version opens in a new tab, in the browser.
(function () {
  "use strict";
  const box = document.getElementById("generate-progress");
  if (!box) return;
  const msg = box.querySelector(".msg");
  let busy = false;

  function say(kind, values) {
    let text = msg.dataset[kind];
    for (const [k, v] of Object.entries(values)) text = text.replace("{" + k + "}", v);
    msg.textContent = text;
    box.dataset.state = kind;
  }

  function filename(response, fallback) {
    const m = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    return m ? m[1] : fallback;
  }

  async function generate(url) {
    if (busy) return;
    busy = true;
    box.hidden = false;
    const started = Date.now();
    say("working", {s: 0});
    const timer = setInterval(() => say("working", {s: Math.round((Date.now() - started) / 1000)}), 1000);
    try {
      const response = await fetch(url, {credentials: "same-origin"});
      if (!response.ok) throw new Error(String(response.status));
      const blob = await response.blob();
      const name = filename(response, "report");
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      clearInterval(timer);
      say("done", {name: name});
    } catch (err) {
      clearInterval(timer);
      say("failed", {status: err.message});
    } finally {
      busy = false;
    }
  }

  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-generate]");
    if (!a) return;
    e.preventDefault();
    generate(a.href);
  });
  const form = document.getElementById("quarterly-form");
  form.addEventListener("submit", (e) => {
    const params = new URLSearchParams(new FormData(form));
    if (params.get("format") === "html") {  // the web version: a new tab
      form.target = "_blank";
      return;
    }
    form.removeAttribute("target");
    e.preventDefault();
    generate(form.action + "?" + params.toString());
  });
})();
