// Draws the run's loss curve from the #loss-curve json_script, again after each htmx poll.
(function () {
  function draw() {
    const source = document.getElementById("loss-curve");
    const target = document.getElementById("loss-chart");
    if (!source || !target || !window.Plotly) return;
    const curve = JSON.parse(source.textContent);
    if (!curve.steps.length) return;
    const trace = { x: curve.steps, y: curve.losses, mode: "lines", name: "training loss" };
    const layout = { title: "Training loss", xaxis: { title: "step" }, yaxis: { title: "loss" }, height: 320 };
    window.Plotly.react(target, [trace], layout, { displayModeBar: false, responsive: true });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
