// One camera: counts by class and direction over time, zone occupancy, turning movements, speeds.
import { downloadCSV, getJSON } from "./api.js";
import {
  barChart, CLASS_NAMES, colourFor, dataTable, legend, markMoment, markSuspect, PERIOD_TEXT, setTimeSeries,
  SUSPECT_NOTE, timeChart,
} from "./charts.js";
import { guarded, markUpdated, refresher } from "./notice.js";
import { debounce, el, fmt, heat, heatInk, rangePicker, refreshWhileRolling } from "./util.js";

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

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

const AROUND_MS = 3_600_000;

/** One bucket of a V85 series as table text: the V85 off its bins, saying from how many road users. */
function v85Cell(s, i) {
  const value = s.values[i];
  if (value != null) {
    return s.binned[i] < s.measured[i]
      ? `${value.toFixed(1)} (from ${fmt.format(s.binned[i])} of ${fmt.format(s.measured[i])} road users)`
      : value.toFixed(1);
  }
  if (s.unbinned_v85[i] != null) return `no bins; highest interval V85 ${s.unbinned_v85[i].toFixed(1)}`;
  return "no data";
}

/**
 * A link to a moment (#/camera/SITE/CAMERA/at/START/END, e.g. an incident's): the charts' window, from an
 * hour before it to an hour after, and the moment to mark; null if the link does not name one.
 */
function momentWindow(moment) {
  if (!moment) return null;
  const from = Date.parse(moment.start);
  const to = Date.parse(moment.end);
  if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) return null;
  const clock = (ms) => new Date(ms).toLocaleTimeString([], { timeStyle: "short" });
  const text = `Around ${new Date(from).toLocaleDateString([], { dateStyle: "medium" })} ${clock(from)}` +
    (to - from >= 60_000 ? `–${clock(to)}` : "");
  return { start: new Date(from - AROUND_MS).toISOString(), end: new Date(to + AROUND_MS).toISOString(), text,
    mark: { from, to } };
}

/**
 * One camera's charts; `moment` ({start, end}: ISO instants, from an incident's link) opens them on that
 * moment, marked on the time charts, instead of the last 24 hours. `canEdit` (admins) links the camera's
 * geometry editor.
 */
export async function cameraView(root, site, camera, moment = null, canEdit = false) {
  const base = `/dashboard/api/cameras/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`;
  const info = await getJSON(base);
  const fixed = momentWindow(moment);
  const run = refresher(refresh, root);
  const picker = rangePicker("24h", () => run(), fixed);
  const exportKind = el("select", { id: "export-kind", name: "export-kind" },
    EXPORT_KINDS.map(([value, text]) => el("option", { value }, text)));
  const exportBucket = el("select", { id: "export-bucket", name: "export-bucket" },
    BUCKETS.map(([value, text]) => el("option", { value }, text)));
  const csv = el("button", { type: "button", id: "csv" }, "Download CSV");
  const exportTools = el("div", { class: "export" },
    el("label", {}, "Export ", exportKind), el("label", {}, " per ", exportBucket), csv);
  const tmc = tmcCard(base, site, camera);
  const split = el("div", { id: "split", class: "split" });
  const compare = el("div", { id: "compare" });
  const turning = el("div", { id: "turning" });
  const speedNote = el("p", { class: "muted", id: "speed-note" });
  const total = el("span", { id: "camera-total", class: "num" });
  const counts = chartCard("Crossings by class and direction", "counts", "crossings", { wide: true, tall: true });
  const occupancy = chartCard("Zone occupancy (mean road users present)", "occupancy", "mean present");
  const profile = profileCard();
  const v85 = chartCard("V85 over time (85th-percentile speed)", "v85", "V85, km/h", { wide: true, perBucket: false });
  const speedCanvas = el("canvas", { id: "speed-chart", role: "img",
    "aria-label": "Road users by their own speed, 5 km/h bins, per class" });
  const speedTable = el("div", { class: "chart-table", id: "speed-table" });
  root.append(
    el("section", { class: "card wide camera-head" },
      el("div", {},
        el("h1", {}, info.name),
        el("p", { class: "muted" }, `${site}/${camera} · ${info.purpose}`),
        canEdit ? el("p", {}, el("a", { id: "edit-geometry",
          href: `#/camera/${encodeURIComponent(site)}/${encodeURIComponent(camera)}/geometry` },
        "Edit lines and zones")) : null,
        el("p", { "aria-live": "polite" }, "Counted in this range: ", total),
        fixed ? el("p", { id: "moment-note", class: "moment-note" },
          `${fixed.text}: the incident is shaded on the time charts (the red line is when it began).`) : null),
      el("div", { class: "tools" }, picker.node, exportTools)),
    counts.card, occupancy.card,
    el("section", { class: "card" }, el("h2", {}, "Turning movements (from → to)"), turning),
    el("section", { class: "card", "aria-labelledby": "split-title" },
      el("h2", { id: "split-title" }, "Modal and direction split"), split),
    el("section", { class: "card", "aria-labelledby": "compare-title" },
      el("h2", { id: "compare-title" }, "Compared with the period before"), compare),
    profile.card,
    tmc.card,
    v85.card,
    el("section", { class: "card wide", "aria-labelledby": "speed-title" },
      el("h2", { id: "speed-title" }, "Speed distribution (road users by their own speed)"), speedNote,
      el("div", { class: "chart-box" }, speedCanvas), speedTable),
  );
  csv.addEventListener("click", () => guarded(() => {
    const kind = exportKind.value;
    // Days are this browser's days, as the charts' are.
    const params = kind === "tmc" ? picker.range()
      : { ...picker.range(), bucket: exportBucket.value, tz: localZone() };
    return downloadCSV(`${base}/${kind}.csv`, params, `${site}-${camera}-${kind}.csv`);
  }, root));
  const speedChart = barChart(speedCanvas, { xTitle: "speed, km/h", yTitle: "road users" });

  /** While the camera's view was changed ([{from, to, change}], ms): its numbers then may be wrong. */
  let suspect = [];
  const suspectNotes = () => (suspect.length ? [SUSPECT_NOTE] : []);

  async function refresh() {
    const asked = picker.range(); // read once: a rolling range moves, and a later choice has its own run
    const range = { ...asked, tz: localZone() };
    const [c, occ, turns, speeds, views] = await Promise.all([
      getJSON(`${base}/counts`, range),
      getJSON(`${base}/occupancy`, range),
      getJSON(`${base}/turning`, range),
      getJSON(`${base}/speeds`, range),
      getJSON(`${base}/view-changes`, asked),
    ]);
    suspect = views.changes.map((v) => ({ from: Date.parse(v.start), to: Date.parse(v.end), change: v.change,
      stale: v.stale ? Date.parse(v.last_report) : null }));
    [counts, occupancy, v85].forEach((card) => markSuspect(card.chart, suspect));
    drawCounts(c);
    split.replaceChildren(...splitTables(c));
    drawOccupancy(occ);
    turning.replaceChildren(turningTable(turns));
    drawSpeeds(speeds);
    const span = Date.parse(range.end) - Date.parse(range.start);
    const before = await getJSON(`${base}/counts`, { start: new Date(Date.parse(range.start) - span).toISOString(),
      end: range.start, tz: range.tz });
    compare.replaceChildren(comparisonTable(c, before));
    await tmc.refresh(asked);
    await profile.refresh(base);
    markUpdated(root);
  }

  function drawCounts(c) {
    const series = c.series.map((s) => ({
      label: `${s.line} ${s.direction} · ${CLASS_NAMES[s.cls] || s.cls}`, cls: s.cls,
      dashKey: `${s.line} ${s.direction}`, values: s.values,
    }));
    legend(counts.legendNode, setTimeSeries(counts.chart, c.times, series, c.period), "direction", suspectNotes());
    const missing = c.reported.filter((r) => !r).length;
    counts.note.textContent = `Crossings per ${PERIOD_TEXT[c.period]}` +
      (c.period === "1d" ? ` (days in ${c.tz})` : "") +
      (missing ? `; no data from the camera for ${missing} of ${c.times.length} buckets (gaps).` : ".") +
      viewChangedText();
    counts.note.dataset.viewChanged = String(suspect.length);
    dataTable(counts.table, `Crossings per ${PERIOD_TEXT[c.period]}`, c.times, series, c.period);
    total.textContent = fmt.format(c.total);
    total.dataset.total = String(c.total);
  }

  /** The counts note's sentence on the spans in which the camera's view was changed, if any. */
  function viewChangedText() {
    if (!suspect.length) return "";
    const when = (ms) => new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    const clock = (ms) => new Date(ms).toLocaleTimeString([], { timeStyle: "short" });
    const sameDay = (a, b) => new Date(a).toDateString() === new Date(b).toDateString();
    const spans = suspect.map((s) => `${when(s.from)}–${sameDay(s.from, s.to) ? clock(s.to) : when(s.to)}` +
      (s.change ? `, ${s.change}` : "") + (s.stale == null ? "" : ` (not reported after ${when(s.stale)}: its ` +
        "edge stopped without clearing it, so it is taken to have ended 15 minutes later)"));
    return ` The camera's view was knocked, turned, covered or out of focus ${spans.length === 1 ? "once" :
      `${spans.length} times`} in this range (hatched): ${spans.join("; ")}. What it counted then may be ` +
      "wrong; the CSV exports mark those buckets (view_changed).";
  }

  function drawOccupancy(occ) {
    const series = occ.series.map((s) => ({
      label: `${s.zone} · ${CLASS_NAMES[s.cls] || s.cls}`, cls: s.cls, dashKey: s.zone, values: s.values,
    }));
    legend(occupancy.legendNode, setTimeSeries(occupancy.chart, occ.times, series, occ.period), "zone",
      suspectNotes());
    occupancy.note.textContent = `Mean road users present in each zone, per ${PERIOD_TEXT[occ.period]}.`;
    dataTable(occupancy.table, "Mean road users present", occ.times, series, occ.period, (v) => v.toFixed(2));
  }

  function drawSpeeds(speeds) {
    const name = (s) => `${s.line} ${s.direction} · ${CLASS_NAMES[s.cls] || s.cls}`;
    const partial = (s, i) => s.values[i] != null && s.binned[i] < s.measured[i];
    const series = speeds.v85.map((s) => ({
      label: name(s), cls: s.cls, dashKey: `${s.line} ${s.direction}`, values: s.values,
      marks: s.values.map((_, i) => partial(s, i)), cells: s.values.map((_, i) => v85Cell(s, i)),
    }));
    const standIns = speeds.v85.filter((s) => s.unbinned_v85.some((v) => v != null)).map((s) => ({
      label: `${name(s)} · highest interval V85, no bins`, cls: s.cls, dashKey: `${s.line} ${s.direction}`,
      values: s.unbinned_v85, standIn: true,
    }));
    const partly = speeds.v85.reduce((n, s) => n + s.values.filter((_, i) => partial(s, i)).length, 0);
    const unbinned = speeds.v85.reduce((n, s) => n + s.unbinned_v85.filter((v) => v != null).length, 0);
    const drawn = setTimeSeries(v85.chart, speeds.times, [...series, ...standIns], speeds.period);
    legend(v85.legendNode, drawn, "direction", [
      partly ? "△ hollow triangle: V85 of the binned road users only (some came without bins)" : "",
      unbinned ? "× on a thin dotted line: no bins in the bucket; the highest interval V85 there " +
        "(the bucket's V85 is at most this)" : "",
      ...suspectNotes(),
    ].filter(Boolean));
    const bucket = PERIOD_TEXT[speeds.period];
    v85.note.textContent = `V85 per ${bucket}` + (speeds.period === "1d" ? ` (days in ${speeds.tz})` : "") +
      `: the speed 85 % of the ${bucket}'s road users did not exceed, read off their 5 km/h speed bins summed ` +
      `over the ${bucket} (to within a bin), never an average or maximum of interval percentiles.` +
      (partly ? ` In ${partly} ${partly === 1 ? "bucket" : "buckets"} only part of the road users came ` +
        "binned (hollow triangles; the table says how many)." : "") +
      (unbinned ? ` ${unbinned} ${unbinned === 1 ? "bucket has" : "buckets have"} no bins at all (their ` +
        "camera sent none): the highest interval V85 is drawn there instead, as crosses on a dotted line." : "") +
      " The V85 of the whole range is under the speed distribution.";
    v85.note.dataset.partial = String(partly);
    v85.note.dataset.unbinned = String(unbinned);
    dataTable(v85.table, "V85, km/h", speeds.times, series, speeds.period);
    drawDistribution(speeds);
  }

  function drawDistribution(speeds) {
    const labels = speeds.bins.map((b) => `${b}–${b + speeds.bin_width}`);
    speedChart.data.labels = labels;
    speedChart.data.datasets = speeds.series.map((s) => ({
      label: CLASS_NAMES[s.cls] || s.cls, data: s.counts, backgroundColor: colourFor(s.cls),
    }));
    speedChart.options.scales.x.stacked = true;
    speedChart.options.scales.y.stacked = true;
    speedChart.update();
    const name = (s) => CLASS_NAMES[s.cls] || s.cls;
    const binned = speeds.series.filter((s) => s.v85_kmh != null);
    const unbinned = speeds.series.filter((s) => s.n_binned < s.n);
    const sentences = !speeds.series.length ? ["No speeds measured in this range."] : [
      "Each measured crossing counted once, at its own speed, over the whole range (a road user that " +
        "crosses two lines counts at each); V85 is the speed 85 % of them did not exceed (read off these " +
        "bins, to within their 5 km/h).",
      binned.length ? "Binned: " + binned.map((s) => `${name(s)} ${fmt.format(s.n_binned)}, ` +
        `V85 ${s.v85_kmh.toFixed(1)} km/h`).join("; ") + "." : "",
      `Mean speed of all measured: ${speeds.series.map((s) => `${name(s)} ${s.mean_kmh.toFixed(1)} km/h`)
        .join(", ")}.`,
      unbinned.length ? "Left out of the bins and V85 (their camera sent no per-road-user speeds): " +
        `${unbinned.map((s) => `${fmt.format(s.n - s.n_binned)} ${name(s)}`).join(", ")}.` : "",
    ];
    speedNote.textContent = sentences.filter(Boolean).join(" ");
    speedNote.dataset.v85 = JSON.stringify(Object.fromEntries(speeds.series.map((s) => [s.cls, s.v85_kmh])));
    const rows = speeds.series.map((s) => ({ label: name(s), values: s.counts }));
    const open = speedTable.querySelector("details")?.open || false;
    speedTable.replaceChildren(el("details", { open }, el("summary", {}, `Table of these numbers (${labels.length} rows)`),
      el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Speed distribution" },
        el("table", { class: "data" }, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "km/h"),
          rows.map((r) => el("th", { scope: "col" }, r.label)))),
        el("tbody", {}, labels.map((l, i) => el("tr", {}, el("th", { scope: "row" }, l),
          rows.map((r) => el("td", {}, fmt.format(r.values[i]))))))))));
  }

  if (fixed) [counts, occupancy, v85].forEach((c) => markMoment(c.chart, fixed.mark));
  // The minute's refresh from the start: a first load still coming in a minute on is followed by another.
  const later = debounce(run, 250);
  const stopTimer = refreshWhileRolling(picker, later);
  await run();
  performance.mark("citytally:charts-drawn");

  return {
    onLive(msg) {
      if (msg.site === site && msg.camera === camera) later();
    },
    refresh: later,
    destroy() {
      stopTimer();
      counts.chart.destroy();
      occupancy.chart.destroy();
      v85.chart.destroy();
      speedChart.destroy();
      profile.chart.destroy();
    },
  };
}

const EXPORT_KINDS = [
  ["counts", "crossings"], ["occupancy", "zone occupancy"], ["speeds", "speeds"],
  ["movements", "turning movements"], ["tmc", "turning-movement count (15 min report)"],
];
const BUCKETS = [["", "as charted"], ["15m", "15 min"], ["1h", "hour"], ["1d", "day"]];
const pct = (part, whole) => (whole ? `${((100 * part) / whole).toFixed(1)} %` : "–");

/** Modal split (share of each class) and direction split (share of each direction of a line). */
function splitTables(c) {
  const byClass = new Map();
  const byLine = new Map();
  for (const s of c.series) {
    const n = s.values.reduce((a, v) => a + (v || 0), 0);
    byClass.set(s.cls, (byClass.get(s.cls) || 0) + n);
    const line = byLine.get(s.line) || new Map();
    line.set(s.direction, (line.get(s.direction) || 0) + n);
    byLine.set(s.line, line);
  }
  const all = [...byClass.values()].reduce((a, n) => a + n, 0);
  const modal = el("table", { class: "data compact", id: "modal-split" },
    el("caption", {}, "Modal split (share of crossings by class)"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "class"), el("th", { scope: "col" }, "crossings"),
      el("th", { scope: "col" }, "share"))),
    el("tbody", {}, [...byClass].sort((a, b) => b[1] - a[1]).map(([cls, n]) => el("tr", {},
      el("th", { scope: "row" }, el("span", { class: "swatch", style: { background: colourFor(cls) } }),
        CLASS_NAMES[cls] || cls),
      el("td", {}, fmt.format(n)), el("td", { "data-share": cls }, pct(n, all))))));
  const directions = el("table", { class: "data compact", id: "direction-split" },
    el("caption", {}, "Direction split (share of each line's crossings)"),
    el("thead", {}, el("tr", {}, ["line", "direction", "crossings", "share"].map((h) =>
      el("th", { scope: "col" }, h)))),
    el("tbody", {}, [...byLine].flatMap(([line, dirs]) => {
      const total = [...dirs.values()].reduce((a, n) => a + n, 0);
      return [...dirs].map(([d, n]) => el("tr", {}, el("th", { scope: "row" }, line), el("td", {}, d),
        el("td", {}, fmt.format(n)), el("td", {}, pct(n, total))));
    })));
  return [modal, directions];
}

/**
 * This range against the one just before it, per class, with how much of each the camera covered: a
 * difference that comes from an outage shows as a coverage difference, not as a change in traffic.
 */
function comparisonTable(now, before) {
  const totals = (c) => {
    const by = new Map();
    for (const s of c.series) by.set(s.cls, (by.get(s.cls) || 0) + s.values.reduce((a, v) => a + (v || 0), 0));
    return by;
  };
  const coverage = (c) => (c.times.length ? c.reported.filter(Boolean).length / c.times.length : 0);
  const a = totals(now);
  const b = totals(before);
  const classes = [...new Set([...a.keys(), ...b.keys()])].sort();
  const change = (x, y) => (y ? `${x >= y ? "+" : "−"}${Math.abs((100 * (x - y)) / y).toFixed(1)} %` : "–");
  const row = (label, x, y) => el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, fmt.format(y)),
    el("td", {}, fmt.format(x)), el("td", { "data-change": label }, change(x, y)));
  return el("table", { class: "data compact", id: "comparison" },
    el("thead", {}, el("tr", {}, ["class", "period before", "this period", "change"].map((h) =>
      el("th", { scope: "col" }, h)))),
    el("tbody", {}, classes.map((cls) => row(CLASS_NAMES[cls] || cls, a.get(cls) || 0, b.get(cls) || 0)),
      el("tr", {}, el("th", { scope: "row" }, "camera reported"),
        el("td", {}, `${(100 * coverage(before)).toFixed(0)} % of buckets`),
        el("td", {}, `${(100 * coverage(now)).toFixed(0)} % of buckets`), el("td", {}, ""))));
}

const PROFILE_DAYS = 28;

/**
 * Weekday and weekend profiles: mean crossings in each hour of the day (browser's time zone) over the
 * last four weeks, counting only hours the camera reported (an offline hour is not a quiet one).
 */
function profileCard() {
  const canvas = el("canvas", { id: "profile-chart", role: "img",
    "aria-label": "Mean crossings per hour of the day, weekdays and weekends" });
  const note = el("p", { class: "muted chart-note", id: "profile-note" });
  const table = el("div", { class: "chart-table", id: "profile-table" });
  const card = el("section", { class: "card wide", "aria-labelledby": "profile-title" },
    el("h2", { id: "profile-title" }, "Weekday and weekend profile (last 4 weeks)"), note,
    el("div", { class: "chart-box" }, canvas), table);
  const chart = barChart(canvas, { xTitle: "hour of the day", yTitle: "mean crossings per hour" });
  async function refresh(base) {
    // Mean per local hour, summed on the hub from 15-minute counts: whole local hours in every time zone
    // (India's begin at the half hour of UTC's).
    const p = await getJSON(`${base}/profile`, { tz: localZone(), days: PROFILE_DAYS });
    const series = [
      { label: "Monday to Friday", values: p.weekday, colour: "#0b3d91" },
      { label: "Saturday and Sunday", values: p.weekend, colour: "#b45309" },
    ];
    chart.data.labels = Array.from({ length: 24 }, (_, h) => `${h}:00`);
    chart.data.datasets = series.map((s) => ({ label: s.label, data: s.values, backgroundColor: s.colour }));
    chart.update();
    const reported = p.hours;
    note.textContent = `Mean over the hours the camera reported (${reported} in the last ${PROFILE_DAYS} days), ` +
      "in this browser's time zone; hours without data are left out, not counted as zero.";
    note.dataset.hours = String(reported);
    const times = Array.from({ length: 24 }, (_, h) => h);
    const rows = times.map((h) => el("tr", {}, el("th", { scope: "row" }, `${h}:00`),
      series.map((s) => el("td", {}, s.values[h] == null ? "no data" : s.values[h].toFixed(1)))));
    const open = table.querySelector("details")?.open || false;
    table.replaceChildren(el("details", { open }, el("summary", {}, "Table of these numbers (24 rows)"),
      el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Weekday and weekend profile" },
        el("table", { class: "data" }, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "hour"),
          series.map((s) => el("th", { scope: "col" }, s.label)))), el("tbody", {}, rows)))));
  }
  return { card, chart, refresh };
}

/** The 15-minute turning-movement count: peak hour, peak-hour factor, the table, and a print button. */
function tmcCard(base, site, camera) {
  const summary = el("p", { id: "tmc-summary", "aria-live": "polite" });
  const table = el("div", { class: "table-scroll tall-table", id: "tmc-table", tabindex: "0", role: "region",
    "aria-label": "Turning-movement count by quarter hour" });
  const print = el("button", { type: "button", id: "tmc-print" }, "Print report");
  const card = el("section", { class: "card wide tmc", id: "tmc-card", "aria-labelledby": "tmc-title" },
    el("div", { class: "card-head" }, el("h2", { id: "tmc-title" }, "Turning-movement count (15 min)"), print),
    el("p", { class: "print-only" }, `${site}/${camera}`), summary, table);
  print.addEventListener("click", () => {
    document.documentElement.classList.add("print-tmc");
    window.print();
    document.documentElement.classList.remove("print-tmc");
  });
  async function refresh(range) {
    if (Date.parse(range.end) - Date.parse(range.start) > 31 * 86_400_000) {
      summary.textContent = "The 15-minute report covers at most 31 days: choose a shorter range for it.";
      table.replaceChildren();
      return;
    }
    const t = await getJSON(`${base}/tmc`, range);
    const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    const moved = t.rows.some((r) => r.total > 0);
    summary.textContent = t.peak_hour_start
      ? `Peak hour from ${when(t.peak_hour_start)}: ${fmt.format(t.peak_hour_volume)} road users; ` +
        `peak-hour factor ${t.peak_hour_factor.toFixed(2)} (1.00: even flow over the hour).`
      : moved ? "No peak hour: fewer than four quarters from the first movement to the end of the range."
        : "No turning movements in this range.";
    summary.dataset.phf = t.peak_hour_factor == null ? "" : String(t.peak_hour_factor);
    const cols = t.movements.flatMap((m) => t.classes.map((c) => [m, c]));
    const head = el("tr", {}, el("th", { scope: "col" }, "quarter"), cols.map(([m, c]) =>
      el("th", { scope: "col" }, `${m.replace(">", " → ")} ${CLASS_NAMES[c] || c}`)), el("th", { scope: "col" }, "total"));
    const peakStart = t.peak_hour_start ? Date.parse(t.peak_hour_start) : null;
    const rows = t.rows.map((r) => {
      const at = Date.parse(r.start);
      const inPeak = peakStart != null && at >= peakStart && at < peakStart + 3_600_000;
      const rowClass = [inPeak ? "peak" : "", r.view_changed ? "view-changed" : ""].filter(Boolean).join(" ");
      return el("tr", { class: rowClass }, el("th", { scope: "row" }, when(r.start),
        r.view_changed ? el("span", { class: "view-changed-mark", title: "the camera's view was changed" },
          " (view changed)") : null),
      cols.map(([m, c]) => el("td", {}, fmt.format((r.counts[m] || {})[c] || 0))), el("td", {}, fmt.format(r.total)));
    });
    const changed = t.view_changed_quarters;
    if (!t.peak_hour_start && changed && moved) {
      summary.textContent = "No peak hour: no four consecutive quarters with the camera's view unchanged " +
        "held a movement.";
    }
    if (changed) {
      summary.textContent += ` In ${changed} ${changed === 1 ? "quarter" : "quarters"} the camera's view was ` +
        "knocked, turned, covered or out of focus (marked \"view changed\"): its counts there may be wrong, " +
        "so the peak hour is sought without them.";
    }
    summary.dataset.viewChanged = String(changed);
    table.replaceChildren(el("table", { class: "data" }, el("thead", {}, head), el("tbody", {}, rows)));
  }
  return { card, refresh };
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
