// The generate page's chips: an aspect-ratio chip fills in the width and height under "Advanced", a length
// chip the frame count, each with sizes the server drew from the model's rules and the grant; typing in those
// fields presses the chip that matches, if any. Without this script the chips stay hidden and the fields
// under "Advanced" are the way. The server checks whatever arrives either way.
(function () {
  document.documentElement.classList.add("js");

  function form() {
    return document.getElementById("job-form");
  }

  function refresh() {
    const f = form();
    if (!f || !f.elements.width) return;
    const width = f.elements.width.value;
    const height = f.elements.height.value;
    const frames = f.elements.num_frames.value;
    f.querySelectorAll("button.chip[data-width]").forEach((chip) => {
      chip.setAttribute("aria-pressed", String(chip.dataset.width === width && chip.dataset.height === height));
    });
    f.querySelectorAll("button.chip[data-frames]").forEach((chip) => {
      chip.setAttribute("aria-pressed", String(chip.dataset.frames === frames));
    });
    const summary = document.getElementById("size-summary");
    if (summary) {
      const fps = Number(summary.dataset.fps);
      const seconds = fps && frames ? (Number(frames) / fps).toFixed(1) : "?";
      summary.textContent = `${width}×${height} px, ${seconds} s (${frames} frames at ${fps} fps)`;
    }
  }

  document.addEventListener("click", (event) => {
    const chip = event.target.closest ? event.target.closest("#job-form button.chip") : null;
    if (!chip) return;
    const f = form();
    let changed = null;
    if (chip.dataset.width) {
      f.elements.width.value = chip.dataset.width;
      f.elements.height.value = chip.dataset.height;
      changed = f.elements.height;
    } else if (chip.dataset.frames) {
      f.elements.num_frames.value = chip.dataset.frames;
      changed = f.elements.num_frames;
    }
    refresh();
    // The form asks for a new estimate on change (its hx-trigger).
    if (changed) changed.dispatchEvent(new Event("change", { bubbles: true }));
  });

  document.addEventListener("input", (event) => {
    if (["width", "height", "num_frames"].includes(event.target.name)) refresh();
  });
  document.addEventListener("change", (event) => {
    if (["width", "height", "num_frames"].includes(event.target.name)) refresh();
  });
  // Choosing another model, or queueing a clip, redraws the form through htmx.
  document.addEventListener("htmx:afterSettle", refresh);
  // A refused submission (400 with the reasons, 429 with the rate limit's) is still the form to show.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (target && target.id === "job-form" && [400, 429].includes(event.detail.xhr.status)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  refresh();
})();
