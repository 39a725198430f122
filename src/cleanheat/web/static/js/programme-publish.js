// 评价报告: PDF and Excel are made by a background job (POST /programme/publish/jobs); the page shows the job's
// progress while it runs and saves the file when it is done. The web (HTML) version opens in a new tab.
(function () {
  "use strict";
  const box = document.getElementById("generate-progress");
  if (!box) return;
  const msg = box.querySelector(".msg");
  const bar = box.querySelector("progress");
  const jobLink = document.getElementById("generate-job");
  let busy = false;

  function say(kind, values) {
    let text = msg.dataset[kind];
    for (const [k, v] of Object.entries(values)) text = text.replace("{" + k + "}", v);
    msg.textContent = text;
    box.dataset.state = kind;
  }

  function save(url, name) {
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function follow(job, started) {
    for (;;) {
      const r = await fetch(job.status_url, {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (!r.ok) throw new Error(String(r.status));
      const j = await r.json();
      bar.value = j.progress;
      say("working", {s: Math.round((Date.now() - started) / 1000), pct: Math.round(j.progress * 100),
                      step: j.message ? "· " + j.message : ""});
      if (j.state === "done") return j;
      if (j.state === "failed") throw new Error(j.error || "failed");
      await sleep(700);
    }
  }

  async function generate(form) {
    if (busy) return;
    busy = true;
    box.hidden = false;
    bar.max = 1;
    bar.value = 0;
    const started = Date.now();
    say("working", {s: 0, pct: 0, step: ""});
    try {
      const response = await fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin",
                                                  headers: {Accept: "application/json"}});
      if (response.status !== 202) throw new Error(String(response.status));
      const job = await response.json();
      jobLink.href = job.page_url;
      jobLink.hidden = false;
      const done = await follow(job, started);
      const name = (done.result && done.result.file) || "report";
      save(done.download, name);
      say("done", {name: name});
    } catch (err) {
      say("failed", {status: err.message});
    } finally {
      busy = false;
    }
  }

  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-generate]");
    if (!form) return;
    e.preventDefault();
    const params = new URLSearchParams(new FormData(form));
    if (params.get("format") === "html") {  // the web version: a new tab
      window.open("/programme/publish/download?period=" + encodeURIComponent(params.get("period")) + "&format=html",
                  "_blank", "noopener");
      return;
    }
    generate(form);
  });
})();
