// The generate form shows only the chosen mode's inputs. Without this script every input stays visible,
// and the server keeps only those the chosen mode takes.
(function () {
  function apply() {
    const form = document.getElementById("job-form");
    if (!form) return;
    const chosen = form.querySelector("input[name=mode]:checked");
    const mode = chosen ? chosen.value : "text_to_video";
    form.querySelectorAll("[data-modes]").forEach((row) => {
      row.hidden = !row.dataset.modes.split(" ").includes(mode);
    });
  }
  document.addEventListener("change", (event) => { if (event.target.name === "mode") apply(); });
  // Choosing another model redraws the form through htmx.
  document.addEventListener("htmx:afterSettle", apply);
  apply();
})();
