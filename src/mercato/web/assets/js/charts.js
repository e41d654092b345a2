// Charts of the admin console, drawn by the vendored Chart.js (a classic script that sets
// window.Chart); without it the tables beside each chart still tell the figures.

/** Draws a chart on ``canvas``; ``options`` are merged over the console's defaults. */
export function drawChart(canvas, type, labels, datasets, options = {}) {
  if (!window.Chart) return null;
  window.Chart.getChart(canvas)?.destroy();
  return new window.Chart(canvas, {
    type,
    data: { labels, datasets },
    options: {
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      ...options,
    },
  });
}
