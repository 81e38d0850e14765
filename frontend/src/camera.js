// One camera: counts by class and direction over time, zone occupancy, turning movements, speeds.
import { downloadCSV, getJSON } from "./api.js";
import { barChart, colourFor, setTimeSeries, timeChart } from "./charts.js";
import { dateRangePicker, debounce, el, fmt, heat } from "./util.js";

export async function cameraView(root, site, camera) {
  const base = `/dashboard/api/cameras/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`;
  const info = await getJSON(base);
  const picker = dateRangePicker(1, () => refresh());
  const csv = el("button", { type: "button", id: "csv" }, "Download CSV");
  const countsCanvas = el("canvas", { id: "counts-chart" });
  const occCanvas = el("canvas", { id: "occupancy-chart" });
  const speedCanvas = el("canvas", { id: "speed-chart" });
  const turning = el("div", { id: "turning" });
  const speedNote = el("p", { class: "muted", id: "speed-note" });
  const total = el("span", { id: "camera-total", class: "num" });
  root.append(
    el("section", { class: "card wide camera-head" },
      el("div", {},
        el("h1", {}, info.name),
        el("p", { class: "muted" }, `${site}/${camera} · ${info.purpose}`),
        el("p", {}, "Counted in this range: ", total)),
      el("div", { class: "tools" }, picker.node, csv)),
    el("section", { class: "card wide" }, el("h2", {}, "Counts by class and direction"),
      el("div", { class: "chart-box tall" }, countsCanvas)),
    el("section", { class: "card" }, el("h2", {}, "Zone occupancy (mean present)"),
      el("div", { class: "chart-box" }, occCanvas)),
    el("section", { class: "card" }, el("h2", {}, "Turning movements (from → to)"), turning),
    el("section", { class: "card wide" }, el("h2", {}, "Speed distribution"), speedNote,
      el("div", { class: "chart-box" }, speedCanvas)),
  );
  csv.addEventListener("click", () =>
    downloadCSV(`${base}/counts.csv`, picker.range(), `${site}-${camera}-counts.csv`));

  const countsChart = timeChart(countsCanvas, "crossings per interval");
  const occChart = timeChart(occCanvas, "mean road users present");
  const speedChart = barChart(speedCanvas, { xTitle: "km/h", yTitle: "road users" });

  async function refresh() {
    const range = picker.range();
    const [counts, occ, turns, speeds] = await Promise.all([
      getJSON(`${base}/counts`, range),
      getJSON(`${base}/occupancy`, range),
      getJSON(`${base}/turning`, range),
      getJSON(`${base}/speeds`, range),
    ]);
    const directions = [...new Set(counts.series.map((s) => s.direction))];
    setTimeSeries(countsChart, counts.times, counts.series.map((s) => ({
      label: `${s.line} ${s.direction} · ${s.cls}`, cls: s.cls,
      dashIndex: directions.indexOf(s.direction), values: s.values,
    })));
    total.textContent = fmt.format(counts.total);
    total.dataset.total = String(counts.total);
    const zones = [...new Set(occ.series.map((s) => s.zone))];
    setTimeSeries(occChart, occ.times, occ.series.map((s) => ({
      label: `${s.zone} · ${s.cls}`, cls: s.cls, dashIndex: zones.indexOf(s.zone), values: s.values,
    })));
    turning.replaceChildren(turningTable(turns));
    speedChart.data.labels = speeds.bins.map((b) => `${b}–${b + speeds.bin_width}`);
    speedChart.data.datasets = speeds.series.map((s) => ({
      label: s.cls, data: s.counts, backgroundColor: colourFor(s.cls),
    }));
    speedChart.options.scales.x.stacked = true;
    speedChart.options.scales.y.stacked = true;
    speedChart.update();
    speedNote.textContent = speeds.series.length
      ? "Interval mean speeds, weighted by road users measured. 85th percentile: " +
        speeds.series.map((s) => `${s.cls} ${s.p85_kmh.toFixed(0)} km/h`).join(", ")
      : "No speeds measured in this range.";
  }
  await refresh();
  performance.mark("citytally:charts-drawn");

  const later = debounce(() => refresh().catch(() => {}), 250);
  return {
    onLive(msg) {
      if (msg.site === site && msg.camera === camera) later();
    },
    destroy() {
      countsChart.destroy();
      occChart.destroy();
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
    el("thead", {}, el("tr", {}, el("th", {}, "from ↓ to →"), ...tos.map((z) => el("th", {}, z)))),
    el("tbody", {}, froms.map((f) => el("tr", {}, el("th", {}, f), ...tos.map((z) => {
      const v = cell.get(`${f}>${z}`) || 0;
      const ink = v / max > 0.6 ? "#fff" : "inherit";
      return el("td", { style: `background:${heat(v / max)};color:${ink}`, "data-from": f, "data-to": z },
        fmt.format(v));
    })))));
}
