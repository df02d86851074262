// Reviewer pages. The quality dashboard draws its plotly charts from the JSON the server embedded;
// the adjudication page is keyboard-first: 1–5 picks the final grade and moves to the reason,
// Enter saves (htmx swaps in the next disputed pair), ? lists the keys.
(() => {
  "use strict";

  // ---- quality dashboard --------------------------------------------------------------------

  function drawCharts() {
    const source = document.getElementById("quality-figures");
    if (!source || !window.Plotly) return;
    const figures = JSON.parse(source.textContent) || {};
    for (const [id, figure] of Object.entries(figures)) {
      const target = document.getElementById(id);
      if (target) window.Plotly.newPlot(target, figure.data, figure.layout, { displaylogo: false, responsive: true });
    }
  }

  drawCharts();

  // ---- adjudication -------------------------------------------------------------------------

  const root = document.querySelector("[data-review]");
  if (!root) return;
  const keysDialog = document.getElementById("review-keys");

  const item = () => document.getElementById("review-item");
  const reasonField = () => item().querySelector(".reason-input");
  const radios = () => Array.from(item().querySelectorAll("input[name=level]"));

  function pick(level) {
    const radio = radios().find((candidate) => candidate.value === level);
    const reason = reasonField();
    if (!radio || !reason) return;
    radio.checked = true;
    reason.focus();
    reason.select();
  }

  function isTyping(target) {
    return !!target.closest && !!target.closest("textarea, select, [contenteditable], input[type=text]");
  }

  // A form with errors comes back as 422: swap it in so the reviewer sees why.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.body.addEventListener("htmx:afterSwap", () => {
    const current = item();
    if (!current) return;
    if (current.querySelector("[data-errors]")) {
      const chosen = radios().some((radio) => radio.checked);
      if (chosen) reasonField().focus();
      else if (document.activeElement) document.activeElement.blur();
    } else if (document.activeElement && document.activeElement !== document.body) {
      document.activeElement.blur();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (keysDialog.open) {
      if (event.key === "?") { event.preventDefault(); keysDialog.close(); }
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.repeat) return;
    if (/^[1-5]$/.test(event.key)) pick(event.key);
    else if (event.key === "?") keysDialog.showModal();
    else return;
    event.preventDefault();
  });

  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "keys") keysDialog.showModal();
    else if (button.dataset.action === "keys-close") keysDialog.close();
  });

  // A click on a grade also goes on to the reason.
  root.addEventListener("change", (event) => {
    if (event.target.name === "level") reasonField().focus();
  });
})();
