// Chart.js, registered once with only the pieces the dashboard draws, plus the rules every chart follows:
// one colour per road-user class everywhere, line style per direction or zone, gaps where there is no
// data (never a zero), visible isolated points, an axis that names its bucket size, and a data table.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import { currentTheme } from "./display.js";
import { el, fmt } from "./util.js";

Chart.register(
  BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement, PointElement,
  Tooltip,
);
Chart.defaults.animation = false; // live data redraws often; motion would only lag behind it
Chart.defaults.font.family = "system-ui, sans-serif";

/** Okabe–Ito colours: told apart with the common colour-vision deficiencies, on light and dark pages. */
export const CLASS_COLOURS = {
  person: "#0072b2",
  bicycle: "#e69f00",
  car: "#009e73",
  motorcycle: "#cc79a7",
  bus: "#d55e00",
  truck: "#56b4e9",
};
export const CLASS_NAMES = {
  person: "pedestrians", bicycle: "cyclists", car: "cars", motorcycle: "motorcycles", bus: "buses",
  truck: "trucks",
};
export const PERIOD_TEXT = { "15m": "15 min", "1h": "hour", "1d": "day" };

const MINUTE = 60_000;
// Tick spacings that land on round clock times when the axis starts on a bucket boundary.
const TICK_STEPS = [15, 30, 60, 180, 360, 720, 1440, 2880, 10080].map((m) => m * MINUTE);
const DASHES = [[], [6, 3], [2, 2], [8, 2, 2, 2]];
const DASH_NAMES = ["solid", "dashed", "dotted", "dash-dot"];

export function colourFor(cls) {
  return CLASS_COLOURS[cls] || "#767676";
}

/** Ink and grid colours of the current theme, set on every part of a chart that draws text or lines. */
function applyTheme(chart) {
  const dark = currentTheme() === "dark";
  const ink = dark ? "#d7dce4" : "#1d2330";
  const grid = dark ? "rgba(255,255,255,0.15)" : "rgba(0,0,0,0.1)";
  for (const scale of Object.values(chart.options.scales || {})) {
    scale.ticks = { ...scale.ticks, color: ink };
    scale.grid = { ...scale.grid, color: grid };
    scale.border = { ...scale.border, color: grid };
    scale.title = { ...scale.title, color: ink };
  }
  chart.options.plugins.legend.labels = { ...chart.options.plugins.legend.labels, color: ink };
}
window.addEventListener("citytally:theme", () => {
  for (const chart of Object.values(Chart.instances)) {
    applyTheme(chart);
    chart.update();
  }
});

export function timeText(value, period) {
  const d = new Date(value);
  if (period === "1d") return d.toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" });
  return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** A point is drawn only where a line cannot be: a value with no data on either side. */
function isolatedRadius(ctx) {
  const data = ctx.dataset.data;
  const i = ctx.dataIndex;
  if (!data[i] || data[i].y == null) return 0;
  const gap = (j) => j < 0 || j >= data.length || data[j].y == null;
  return gap(i - 1) && gap(i + 1) ? 3.5 : 0;
}

/**
 * Shades `chart.$mark` ({from, to} in ms, e.g. an incident) across the plot, under the lines, with a
 * border line at its start so that a moment shorter than a pixel still shows.
 */
const momentMarker = {
  id: "citytallyMoment",
  beforeDatasetsDraw(chart) {
    const mark = chart.$mark;
    const x = chart.scales.x;
    if (!mark || !x || mark.to < x.min || mark.from > x.max) return;
    const { top, bottom, left, right } = chart.chartArea;
    const a = Math.max(left, Math.min(right, x.getPixelForValue(mark.from)));
    const b = Math.max(left, Math.min(right, x.getPixelForValue(mark.to)));
    const { ctx } = chart;
    ctx.save();
    ctx.fillStyle = currentTheme() === "dark" ? "rgba(255,155,155,0.22)" : "rgba(185,28,28,0.14)";
    ctx.fillRect(a, top, Math.max(2, b - a), bottom - top);
    ctx.strokeStyle = currentTheme() === "dark" ? "#ff9b9b" : "#b91c1c";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(a, top);
    ctx.lineTo(a, bottom);
    ctx.stroke();
    ctx.restore();
  },
};

/** A diagonal hatch in `ink`, as a canvas pattern (cached per colour). */
const hatches = new Map();
function hatch(ctx, ink) {
  if (!hatches.has(ink)) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const t = tile.getContext("2d");
    t.strokeStyle = ink;
    t.lineWidth = 1.5;
    t.beginPath();
    t.moveTo(-2, 10);
    t.lineTo(10, -2);
    t.stroke();
    hatches.set(ink, ctx.createPattern(tile, "repeat"));
  }
  return hatches.get(ink);
}

/**
 * Hatches `chart.$suspect` ([{from, to}] in ms: while the camera's view was knocked, turned, covered or out
 * of focus) across the plot, under the lines: its numbers there may be wrong.
 */
const suspectMarker = {
  id: "citytallySuspect",
  beforeDatasetsDraw(chart) {
    const x = chart.scales.x;
    const spans = (chart.$suspect || []).filter((s) => x && s.to >= x.min && s.from <= x.max);
    if (!spans.length) return;
    const { top, bottom, left, right } = chart.chartArea;
    const { ctx } = chart;
    ctx.save();
    ctx.fillStyle = hatch(ctx, currentTheme() === "dark" ? "rgba(250,204,21,0.45)" : "rgba(161,98,7,0.45)");
    for (const s of spans) {
      const a = Math.max(left, Math.min(right, x.getPixelForValue(s.from)));
      const b = Math.max(left, Math.min(right, x.getPixelForValue(s.to)));
      ctx.fillRect(a, top, Math.max(3, b - a), bottom - top);
    }
    ctx.restore();
  },
};

/** Hatch the spans ([{from, to}] in ms) in which a time chart's numbers may be wrong. */
export function markSuspect(chart, spans) {
  chart.$suspect = spans;
  chart.update();
}

/** What the hatching means, for a chart's legend. */
export const SUSPECT_NOTE = "hatched: the camera's view was knocked, turned, covered or out of focus; " +
  "its numbers there may be wrong";

/** Mark a moment ({from, to} in ms, or null) on a time chart. */
export function markMoment(chart, mark) {
  chart.$mark = mark;
  chart.update();
}

/** A line chart over time; `quantity` says what is counted ("crossings"), the axis adds "per 15 min". */
export function timeChart(canvas, quantity, { perBucket = true } = {}) {
  const chart = new Chart(canvas, {
    type: "line",
    data: { datasets: [] },
    options: {
      parsing: false,
      maintainAspectRatio: false,
      spanGaps: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: isolatedRadius, hoverRadius: 4 }, line: { borderWidth: 2 } },
      scales: {
        x: { type: "linear", ticks: { maxTicksLimit: 10 } },
        y: { beginAtZero: true, title: { display: true, text: quantity } },
      },
      plugins: {
        legend: { display: false }, // the HTML legend beside the chart names classes and line styles
        tooltip: {
          callbacks: {
            title: (items) => (items.length ? timeText(items[0].parsed.x, chart.$period) : ""),
          },
        },
      },
    },
    plugins: [suspectMarker, momentMarker],
  });
  chart.$quantity = quantity;
  chart.$perBucket = perBucket;
  applyTheme(chart);
  return chart;
}

/** A stand-in series (e.g. a bound where the measure itself is missing): thin, dotted, a cross per value. */
const STAND_IN = { borderDash: [2, 3], borderWidth: 1, pointStyle: "crossRot", pointRadius: 4, pointBorderWidth: 1.5 };

/** Points of `marks` (true per index) drawn as hollow triangles: values that hold for part of a bucket. */
function markedPoints(marks) {
  const marked = (ctx) => marks[ctx.dataIndex] === true;
  return {
    pointStyle: (ctx) => (marked(ctx) ? "triangle" : "circle"),
    pointRadius: (ctx) => (marked(ctx) ? 5 : isolatedRadius(ctx)),
    pointBorderWidth: (ctx) => (marked(ctx) ? 1.5 : 1),
    pointBackgroundColor: (ctx) => (marked(ctx) ? "transparent" : ctx.dataset.borderColor),
  };
}

/**
 * Draw `series` ([{label, cls, dashKey, values, marks?, standIn?}], values null where there is no data) over
 * bucket starts `times` (ms) of `period`; `marks` (true per index) draws those points as hollow triangles,
 * `standIn` draws the series thin and dotted with a cross per value. Returns the legend entries used.
 */
export function setTimeSeries(chart, times, series, period) {
  const dashKeys = [...new Set(series.map((s) => s.dashKey))];
  chart.$period = period;
  chart.data.datasets = series.map((s) => ({
    label: s.label,
    data: times.map((t, i) => ({ x: t, y: s.values[i] })),
    borderColor: colourFor(s.cls),
    backgroundColor: colourFor(s.cls),
    borderDash: DASHES[dashKeys.indexOf(s.dashKey) % DASHES.length],
    ...(s.marks ? markedPoints(s.marks) : {}),
    ...(s.standIn ? STAND_IN : {}),
  }));
  // Pin the axis to the asked range: Chart.js would otherwise round it out to "nice" ticks.
  const bucket = times.length > 1 ? times[1] - times[0] : 0;
  const x = chart.options.scales.x;
  x.min = times.length ? times[0] : undefined;
  x.max = times.length ? times[times.length - 1] + bucket : undefined;
  const span = times.length ? x.max - times[0] : 0;
  x.ticks.stepSize = TICK_STEPS.find((step) => span / step <= 8) || TICK_STEPS.at(-1);
  x.ticks.callback = (v) => timeText(v, period);
  // Ticks on round local clock times (whole hours, midnights), wherever a rolling range starts.
  x.afterBuildTicks = (scale) => {
    const step = x.ticks.stepSize;
    const offset = new Date(scale.min).getTimezoneOffset() * MINUTE;
    const ticks = [];
    for (let t = Math.ceil((scale.min - offset) / step) * step + offset; t <= scale.max; t += step) {
      ticks.push({ value: t });
    }
    scale.ticks = ticks;
  };
  chart.options.scales.y.title.text = chart.$perBucket
    ? `${chart.$quantity} per ${PERIOD_TEXT[period] || period}` : chart.$quantity;
  chart.update();
  return { classes: [...new Set(series.map((s) => s.cls))], dashKeys };
}

/**
 * The legend as HTML: a swatch per class, a line sample per direction or zone, what a gap means, and any
 * `notes` (text for the chart's other marks).
 */
export function legend(node, { classes, dashKeys }, dashWhat, notes = []) {
  const swatch = (cls) => el("li", {}, el("span", { class: "swatch", style: { background: colourFor(cls) } }),
    CLASS_NAMES[cls] || cls);
  const dash = (key, i) => el("li", {}, el("span", { class: `dash dash-${DASH_NAMES[i % DASH_NAMES.length]}` }),
    `${dashWhat} ${key}`);
  node.replaceChildren(
    el("ul", { class: "legend-list" }, classes.map(swatch), dashKeys.length > 1 ? dashKeys.map(dash) : [],
      notes.map((note) => el("li", {}, note)), el("li", { class: "muted" }, "gap in a line: no data from the camera")),
  );
}

/**
 * A table of the chart's numbers (its text alternative), inside a closed <details>; a series' `cells` (text
 * per bucket), where it has them, replace its formatted values.
 */
export function dataTable(node, caption, times, series, period, unit = (v) => fmt.format(v)) {
  const head = el("tr", {}, el("th", { scope: "col" }, "Time"),
    series.map((s) => el("th", { scope: "col" }, s.label)));
  const rows = times.map((t, i) => el("tr", {}, el("th", { scope: "row" }, timeText(t, period)),
    series.map((s) => el("td", {}, s.cells ? s.cells[i] : s.values[i] == null ? "no data" : unit(s.values[i])))));
  const open = node.querySelector("details")?.open || false;
  node.replaceChildren(el("details", { open },
    el("summary", {}, `Table of these numbers (${times.length} rows)`),
    el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption },
      el("table", { class: "data" }, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, rows)))));
}

export function barChart(canvas, { stacked = false, horizontal = false, xTitle = "", yTitle = "" } = {}) {
  const chart = new Chart(canvas, {
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
  applyTheme(chart);
  chart.update();
  return chart;
}

export { Chart };
