// Planner scenario editor: switch between the form and the YAML text.
(function () {
  "use strict";
  function showTab(t) {
    document.getElementById("pane-form").classList.toggle("hidden", t !== "form");
    document.getElementById("pane-yaml").classList.toggle("hidden", t !== "yaml");
    document.getElementById("mode").value = t;
    document.getElementById("tab-" + t).classList.remove("secondary");
    document.getElementById("tab-" + (t === "form" ? "yaml" : "form")).classList.add("secondary");
  }
  document.getElementById("tab-form").addEventListener("click", () => showTab("form"));
  document.getElementById("tab-yaml").addEventListener("click", () => showTab("yaml"));
  showTab(window.cleanheat.data("editor-data").tab);
})();
