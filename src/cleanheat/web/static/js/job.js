// 后台任务: poll the job's state while it is queued or running; show its progress, then the result (open a
// result page, or download the file) or the error. Text from the server goes in as text (textContent).
(function () {
  "use strict";
  const box = document.getElementById("job");
  const job = window.cleanheat.data("job-data");
  const labels = window.cleanheat.data("job-labels");
  if (!box || !job) return;
  const bar = document.getElementById("job-progress");
  const percent = document.getElementById("job-percent");

  function show(j) {
    box.dataset.state = j.state;
    document.getElementById("job-state").textContent = labels[j.state] || j.state;
    document.getElementById("job-message").textContent = j.message || "";
    bar.value = j.progress;
    percent.textContent = Math.round(j.progress * 100) + " %";
    if (j.state === "failed") {
      const err = document.getElementById("job-error");
      err.textContent = j.error || "";
      err.hidden = false;
    }
    if (j.state === "done") {
      if (j.result && j.result.url) {
        window.location.replace(j.result.url);  // the job page leaves the history: "back" returns to the form
        return;
      }
      if (j.download) window.location.reload();  // the page then offers the file
    }
  }

  async function poll() {
    try {
      const r = await fetch("/api/jobs/" + job.id, {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (r.ok) {
        const j = await r.json();
        show(j);
        if (j.state === "done" || j.state === "failed") return;
      }
    } catch (err) { /* the server may restart: try again */ }
    setTimeout(poll, 1000);
  }
  if (job.state === "queued" || job.state === "running") {
    setTimeout(poll, 500);
  } else if (job.state === "done" && job.result && job.result.url
             && new URLSearchParams(window.location.search).has("follow")) {
    // the form's redirect: the job was done before its page was drawn, so the page moves on at once; a finished
    // job's page opened later (from the list) stays, with its link to the result
    window.location.replace(job.result.url);
  }
})();
