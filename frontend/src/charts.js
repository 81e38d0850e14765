// Chart.js, registered once with only the pieces the dashboard draws, plus small shared helpers.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(
  BarController, BarElement, CategoryScale, Filler, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip,
);
Chart.defaults.animation = false; // live data redraws often; motion would only lag behind it
Chart.defaults.font.family = "system-ui, sans-serif";

export const CLASS_COLOURS = {
  person: "#1b9e77",
  bicycle: "#d95f02",
  car: "#7570b3",
  motorcycle: "#e7298a",
  bus: "#66a61e",
  truck: "#a6761d",
};

const MINUTE = 60_000;
// Tick spacings that land on round clock times when the axis starts on a bucket boundary.
const TICK_STEPS = [15, 30, 60, 180, 360, 720, 1440, 2880, 10080].map((m) => m * MINUTE);
const DASHES = [[], [6, 3], [2, 2], [8, 2, 2, 2]];

export function colourFor(cls) {
  return CLASS_COLOURS[cls] || "#555";
}

function timeTick(value) {
  const d = new Date(value);
  return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** A line chart over time; series are [{label, cls, dashIndex, values}], times in ms. */
export function timeChart(canvas, yTitle) {
  return new Chart(canvas, {
    type: "line",
    data: { datasets: [] },
    options: {
      parsing: false,
      normalized: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
      scales: {
        x: { type: "linear", ticks: { callback: timeTick, maxTicksLimit: 10 } },
        y: { beginAtZero: true, title: { display: true, text: yTitle } },
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: { callbacks: { title: (items) => (items.length ? timeTick(items[0].parsed.x) : "") } },
      },
    },
  });
}

export function setTimeSeries(chart, times, series) {
  chart.data.datasets = series.map((s) => ({
    label: s.label,
    data: times.map((t, i) => ({ x: t, y: s.values[i] })),
    borderColor: colourFor(s.cls),
    backgroundColor: colourFor(s.cls),
    borderDash: DASHES[(s.dashIndex || 0) % DASHES.length],
  }));
  // Pin the axis to the asked range: Chart.js would otherwise round it out to "nice" ticks.
  // The axis ends where the last bucket ends, so the range is a whole number of tick steps.
  const bucket = times.length > 1 ? times[1] - times[0] : 0;
  chart.options.scales.x.min = times.length ? times[0] : undefined;
  chart.options.scales.x.max = times.length ? times[times.length - 1] + bucket : undefined;
  const span = times.length ? times[times.length - 1] + bucket - times[0] : 0;
  chart.options.scales.x.ticks.stepSize = TICK_STEPS.find((step) => span / step <= 8) || TICK_STEPS.at(-1);
  chart.update();
}

export function barChart(canvas, { stacked = false, horizontal = false, xTitle = "", yTitle = "" } = {}) {
  return new Chart(canvas, {
    type: "bar",
    data: { labels: [], datasets: [] },
    options: {
      maintainAspectRatio: false,
      indexAxis: horizontal ? "y" : "x",
      scales: {
        x: { stacked, title: { display: !!xTitle, text: xTitle } },
        y: { stacked, beginAtZero: true, title: { display: !!yTitle, text: yTitle } },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    },
  });
}

export { Chart };
