// One camera: counts by class and direction over time, zone occupancy, turning movements, speeds.
import { downloadCSV, getJSON } from "./api.js";
import {
  barChart, CLASS_NAMES, colourFor, dataTable, legend, PERIOD_TEXT, setTimeSeries, timeChart,
} from "./charts.js";
import { isKiosk } from "./display.js";
import { guarded, markUpdated } from "./notice.js";
import { debounce, el, every, fmt, heat, heatInk, rangePicker } from "./util.js";

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
const AUTO_REFRESH_MS = 60_000;

function chartCard(title, id, quantity, { wide = false, tall = false, perBucket = true } = {}) {
  const canvas = el("canvas", { id: `${id}-chart`, role: "img", "aria-label": title });
  const legendNode = el("div", { class: "legend", id: `${id}-legend` });
  const table = el("div", { class: "chart-table", id: `${id}-table` });
  const note = el("p", { class: "muted chart-note", id: `${id}-note` });
  const card = el("section", { class: `card${wide ? " wide" : ""}`, "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title` }, title), note,
    el("div", { class: `chart-box${tall ? " tall" : ""}` }, canvas), legendNode, table);
  return { card, canvas, legendNode, table, note, chart: timeChart(canvas, quantity, { perBucket }) };
}

export async function cameraView(root, site, camera) {
  const base = `/dashboard/api/cameras/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`;
  const info = await getJSON(base);
  const picker = rangePicker("24h", () => refresh());
  const csv = el("button", { type: "button", id: "csv" }, "Download CSV");
  const turning = el("div", { id: "turning" });
  const speedNote = el("p", { class: "muted", id: "speed-note" });
  const total = el("span", { id: "camera-total", class: "num" });
  const counts = chartCard("Crossings by class and direction", "counts", "crossings", { wide: true, tall: true });
  const occupancy = chartCard("Zone occupancy (mean road users present)", "occupancy", "mean present");
  const v85 = chartCard("V85 over time (85th-percentile speed)", "v85", "V85, km/h", { wide: true, perBucket: false });
  const speedCanvas = el("canvas", { id: "speed-chart", role: "img",
    "aria-label": "Road users by their interval's mean speed" });
  root.append(
    el("section", { class: "card wide camera-head" },
      el("div", {},
        el("h1", {}, info.name),
        el("p", { class: "muted" }, `${site}/${camera} · ${info.purpose}`),
        el("p", { "aria-live": "polite" }, "Counted in this range: ", total)),
      el("div", { class: "tools" }, picker.node, csv)),
    counts.card, occupancy.card,
    el("section", { class: "card" }, el("h2", {}, "Turning movements (from → to)"), turning),
    v85.card,
    el("section", { class: "card wide" }, el("h2", {}, "Road users by their interval's mean speed"), speedNote,
      el("div", { class: "chart-box" }, speedCanvas)),
  );
  csv.addEventListener("click", () => guarded(() =>
    downloadCSV(`${base}/counts.csv`, picker.range(), `${site}-${camera}-counts.csv`), root));
  const speedChart = barChart(speedCanvas, { xTitle: "interval mean speed, km/h", yTitle: "road users" });

  async function refresh() {
    const range = { ...picker.range(), tz: localZone() };
    const [c, occ, turns, speeds] = await Promise.all([
      getJSON(`${base}/counts`, range),
      getJSON(`${base}/occupancy`, range),
      getJSON(`${base}/turning`, range),
      getJSON(`${base}/speeds`, range),
    ]);
    drawCounts(c);
    drawOccupancy(occ);
    turning.replaceChildren(turningTable(turns));
    drawSpeeds(speeds);
    markUpdated(root);
  }

  function drawCounts(c) {
    const series = c.series.map((s) => ({
      label: `${s.line} ${s.direction} · ${CLASS_NAMES[s.cls] || s.cls}`, cls: s.cls,
      dashKey: `${s.line} ${s.direction}`, values: s.values,
    }));
    legend(counts.legendNode, setTimeSeries(counts.chart, c.times, series, c.period), "direction");
    const missing = c.reported.filter((r) => !r).length;
    counts.note.textContent = `Crossings per ${PERIOD_TEXT[c.period]}` +
      (c.period === "1d" ? ` (days in ${c.tz})` : "") +
      (missing ? `; no data from the camera for ${missing} of ${c.times.length} buckets (gaps).` : ".");
    dataTable(counts.table, `Crossings per ${PERIOD_TEXT[c.period]}`, c.times, series, c.period);
    total.textContent = fmt.format(c.total);
    total.dataset.total = String(c.total);
  }

  function drawOccupancy(occ) {
    const series = occ.series.map((s) => ({
      label: `${s.zone} · ${CLASS_NAMES[s.cls] || s.cls}`, cls: s.cls, dashKey: s.zone, values: s.values,
    }));
    legend(occupancy.legendNode, setTimeSeries(occupancy.chart, occ.times, series, occ.period), "zone");
    occupancy.note.textContent = `Mean road users present in each zone, per ${PERIOD_TEXT[occ.period]}.`;
    dataTable(occupancy.table, "Mean road users present", occ.times, series, occ.period, (v) => v.toFixed(2));
  }

  function drawSpeeds(speeds) {
    const series = speeds.v85.map((s) => ({
      label: `${s.line} ${s.direction} · ${CLASS_NAMES[s.cls] || s.cls}`, cls: s.cls,
      dashKey: `${s.line} ${s.direction}`, values: s.values,
    }));
    legend(v85.legendNode, setTimeSeries(v85.chart, speeds.times, series, speeds.period), "direction");
    v85.note.textContent = "The speed 85 % of measured road users did not exceed, per reporting interval" +
      (speeds.period === "15m" ? "" : ` (the highest interval in each ${PERIOD_TEXT[speeds.period]})`) +
      ". The camera reports V85 per interval only, so no single V85 for the whole range can be computed.";
    dataTable(v85.table, "V85, km/h", speeds.times, series, speeds.period, (v) => v.toFixed(1));
    speedChart.data.labels = speeds.bins.map((b) => `${b}–${b + speeds.bin_width}`);
    speedChart.data.datasets = speeds.series.map((s) => ({
      label: CLASS_NAMES[s.cls] || s.cls, data: s.counts, backgroundColor: colourFor(s.cls),
    }));
    speedChart.options.scales.x.stacked = true;
    speedChart.options.scales.y.stacked = true;
    speedChart.update();
    speedNote.textContent = speeds.series.length
      ? "Each road user is counted at the mean speed of its reporting interval (the camera does not send " +
        "individual speeds). Mean speed and the range of interval V85s: " +
        speeds.series.map((s) => `${CLASS_NAMES[s.cls] || s.cls} ${s.mean_kmh.toFixed(0)} km/h mean, ` +
          `V85 ${s.v85_min_kmh.toFixed(0)}–${s.v85_max_kmh.toFixed(0)} km/h`).join("; ") + "."
      : "No speeds measured in this range.";
  }

  await guarded(refresh, root);
  performance.mark("citytally:charts-drawn");

  const later = debounce(() => guarded(refresh, root), 250);
  const stopTimer = every(isKiosk() ? 30_000 : AUTO_REFRESH_MS, () => {
    if (picker.isRolling()) later();
  });
  return {
    onLive(msg) {
      if (msg.site === site && msg.camera === camera) later();
    },
    destroy() {
      stopTimer();
      counts.chart.destroy();
      occupancy.chart.destroy();
      v85.chart.destroy();
      speedChart.destroy();
    },
  };
}

function turningTable(t) {
  if (!t.movements.length) return el("p", { class: "muted" }, "No turning movements in this range.");
  const froms = [...new Set(t.movements.map((m) => m.from_zone))].sort();
  const tos = [...new Set(t.movements.map((m) => m.to_zone))].sort();
  const cell = new Map(t.movements.map((m) => [`${m.from_zone}>${m.to_zone}`, m.count]));
  const max = Math.max(1, ...t.movements.map((m) => m.count));
  return el("table", { class: "matrix" },
    el("caption", { class: "visually-hidden" }, "Road users from each zone (rows) to each zone (columns)"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "from ↓ to →"),
      ...tos.map((z) => el("th", { scope: "col" }, z)))),
    el("tbody", {}, froms.map((f) => el("tr", {}, el("th", { scope: "row" }, f), ...tos.map((z) => {
      const v = cell.get(`${f}>${z}`) || 0;
      return el("td", { style: { background: heat(v / max), color: heatInk(v / max) }, "data-from": f,
        "data-to": z }, fmt.format(v));
    })))));
}
