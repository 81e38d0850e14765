// Weak spots: places ranked by traffic conflicts per 1,000 road users, and where in a camera's junction the
// conflicts were, as a heat map over the camera's drawing (its count lines and zones in image pixels).
// Below, the TTC and PET distributions of a chosen place (the events' histograms summed by the hub).
// The hub's /conflicts endpoints give the numbers; every picture here has the same numbers as a table.
import { downloadCSV, getJSON } from "./api.js";
import { barChart } from "./charts.js";
import { guarded, markUpdated, refresher } from "./notice.js";
import { localZone } from "./overview-data.js";
import { debounce, el, fmt, rangePicker, refreshWhileRolling } from "./util.js";

const SVG = "http://www.w3.org/2000/svg";
const DAY = 86_400_000;
const LEVELS = [["zone", "Junction zones"], ["camera", "Cameras"], ["site", "Sites"]];
const TYPES = [["crossing", "crossing"], ["rear_end", "rear-end"], ["lane_change", "lane change"]];
const BANDS = [["serious", "serious (<\u00a01\u00a0s)"], ["moderate", "moderate (<\u00a02\u00a0s)"], ["slight", "slight"]];
/** Heat ramp from few (pale amber) to most (dark red) conflicts, with a dark outline on every mark. */
const RAMP = ["#fde68a", "#f59e0b", "#dc2626", "#7f1d1d"];

/** The roll-up period to read: the finest the hub serves for the range (its longest ranges per period). */
function periodFor(range) {
  const days = (Date.parse(range.end) - Date.parse(range.start)) / DAY;
  return days <= 31 ? "15m" : days <= 366 ? "1h" : "1d";
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c != null) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** A ranking row's place as the select's value: its site, camera and zone (null beyond the level). */
const placeKey = (r) => JSON.stringify({ site: r.site, camera: r.camera, zone: r.zone });
const place = (r) => [r.site, r.camera, r.zone].filter(Boolean).join(" / ");
const rate = (r) => (r.per_1000 == null ? "no road users counted" : r.per_1000.toFixed(1));
const interval = (r) => (r.per_1000 == null ? "" : `${r.per_1000_low.toFixed(1)}–${r.per_1000_high.toFixed(1)}`);
const rampColour = (t) => RAMP[Math.min(RAMP.length - 1, Math.floor(t * RAMP.length))];

export async function weakSpotsView(root) {
  const run = refresher(refresh, root);
  const picker = rangePicker("7d", () => run());
  const level = el("select", { id: "weak-level", name: "level" },
    LEVELS.map(([value, text]) => el("option", { value }, text)));
  const csv = el("button", { type: "button", id: "weak-csv" }, "Download CSV");
  const summary = el("p", { id: "weak-summary", "aria-live": "polite" });
  const body = el("tbody", { id: "weak-rows" });
  const rates = el("div", { id: "weak-rates", class: "rate-chart" });
  const cameraSelect = el("select", { id: "heat-camera", name: "heat-camera" });
  const drawing = el("div", { id: "heat-drawing", class: "heat-drawing" });
  const cellTable = el("div", { id: "heat-table" });
  const heatNote = el("p", { class: "muted", id: "heat-note" });
  const dist = distributionCard();
  root.append(
    el("section", { class: "card wide" },
      el("div", { class: "card-head" },
        el("h1", {}, "Weak spots"),
        el("div", { class: "tools" }, picker.node, el("label", {}, "Rank ", level), csv)),
      el("p", { class: "muted" },
        "Traffic conflicts (near misses: time to collision or post-encroachment time below the zone's " +
        "thresholds; a car that draws up behind a queue, braking in time and comfortably, is none) per " +
        "1,000 road users that entered the junction zones, highest first. Places with conflicts but no " +
        "road user counted in the range come last. A few conflicts say little about a place: the 95 % " +
        "interval is the range of rates its counts are consistent with, and where two places' intervals " +
        "overlap, their order may be chance."),
      summary,
      el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Weak spots ranking" },
        el("table", { class: "data", id: "weak-table" },
          el("caption", { class: "visually-hidden" }, "Places ranked by conflicts per 1,000 road users"),
          el("thead", {}, el("tr", {}, ["Rank", "Place", "Road users", "Conflicts", "Per 1,000", "95\u00a0% interval",
            ...BANDS.map(([, t]) => t), ...TYPES.map(([, t]) => t), ""].map((h) => el("th", { scope: "col" }, h)))),
          body)),
      rates),
    el("section", { class: "card wide", "aria-labelledby": "heat-title" },
      el("div", { class: "card-head" }, el("h2", { id: "heat-title" }, "Where the conflicts were"),
        el("label", {}, "Camera ", cameraSelect)),
      heatNote, drawing, heatLegend(), cellTable),
    dist.card,
  );
  let cells = [];
  let shapes = new Map(); // "site/camera" → the camera's registry entry (lines and zones)

  csv.addEventListener("click", () => guarded(() =>
    downloadCSV("/conflicts/ranking.csv", params(), "weak-spots.csv"), root));
  level.addEventListener("change", () => run());
  cameraSelect.addEventListener("change", () => guarded(drawHeat, root));
  dist.select.addEventListener("change", () => guarded(drawDistributions, root));

  function params() {
    const range = picker.range();
    // in the browser's zone: a range of whole days is those days' conflicts, whatever the period read
    return { ...range, interval: periodFor(range), tz: localZone(), level: level.value };
  }

  async function refresh() {
    const p = params();
    const when = picker.label(); // the range asked for, whatever is chosen by the time its answer comes
    const [ranking, found] = await Promise.all([
      getJSON("/conflicts/ranking", p),
      getJSON("/conflicts/cells", { start: p.start, end: p.end, interval: p.interval, tz: p.tz }),
    ]);
    cells = found.cells;
    drawRanking(ranking.ranking, when);
    const cameras = [...new Set([...ranking.ranking.filter((r) => r.camera), ...cells]
      .map((r) => `${r.site}/${r.camera}`))];
    const chosen = cameraSelect.value;
    cameraSelect.replaceChildren(...cameras.map((c) => el("option", { value: c, selected: c === chosen }, c)));
    const places = ranking.ranking.map((r) => placeKey(r));
    const wanted = places.includes(dist.select.value) ? dist.select.value : places[0] || "";
    dist.select.replaceChildren(el("option", { value: "", selected: wanted === "" }, "Every place"),
      ...places.map((k) => el("option", { value: k, selected: k === wanted }, place(JSON.parse(k)))));
    await Promise.all([drawHeat(), drawDistributions()]);
    markUpdated(root);
  }

  function drawRanking(rows, when) {
    const total = rows.reduce((a, r) => a + r.conflicts, 0);
    const users = rows.reduce((a, r) => a + r.road_users, 0);
    summary.textContent = rows.length
      ? `${fmt.format(total)} conflicts among ${fmt.format(users)} road users in ${when}.`
      : `No conflict zone reported in ${when}.`;
    summary.dataset.total = String(total);
    const changed = rows.filter((r) => r.view_changed).length;
    if (changed) {
      summary.textContent += ` At ${changed} ${changed === 1 ? "place" : "places"} (marked "view changed") the ` +
        "camera's view was knocked, turned, covered or out of focus during part of the range: their conflicts " +
        "and road users may be wrong.";
    }
    summary.dataset.viewChanged = String(changed);
    body.replaceChildren(...rows.map((r, i) => {
      const show = el("button", { type: "button", class: "show-heat" }, "Show on drawing",
        el("span", { class: "visually-hidden" }, `: ${place(r)}`));
      show.hidden = !r.camera;
      show.addEventListener("click", () => {
        cameraSelect.value = `${r.site}/${r.camera}`;
        dist.select.value = placeKey(r);
        guarded(() => Promise.all([drawHeat(), drawDistributions()]), root)
          .then(() => drawing.scrollIntoView({ block: "nearest" }));
      });
      return el("tr", { "data-place": place(r) },
        el("td", {}, String(i + 1)), el("th", { scope: "row" }, place(r), r.view_changed
          ? el("span", { class: "view-changed-mark", title: "the camera's view was changed during part of the range" },
            " · view changed") : null),
        el("td", {}, fmt.format(r.road_users)), el("td", {}, fmt.format(r.conflicts)),
        el("td", { class: "rate" }, rate(r)), el("td", { class: "interval" }, interval(r)),
        BANDS.map(([k]) => el("td", {}, fmt.format(r[k]))), TYPES.map(([k]) => el("td", {}, fmt.format(r[k]))),
        el("td", {}, show));
    }));
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 13, class: "muted" }, "No data in this range.")));
    rates.replaceChildren(rateChart(rows));
  }

  // The heat map and the distributions are drawn by a refresh and on their own selects: only the answer
  // to the latest call of each is drawn.
  let heatCalls = 0;
  let distCalls = 0;

  async function drawHeat() {
    const call = ++heatCalls;
    const key = cameraSelect.value;
    if (!key) {
      drawing.replaceChildren();
      cellTable.replaceChildren();
      heatNote.textContent = "No camera with conflict zones reported in this range.";
      return;
    }
    const [site, camera] = key.split("/");
    if (!shapes.has(key)) {
      const shape = await getJSON(`/cameras/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`);
      shapes.set(key, shape);
      if (call !== heatCalls) return;
    }
    const mine = cells.filter((c) => c.site === site && c.camera === camera);
    const placed = mine.filter((c) => c.image_x != null);
    const n = mine.reduce((a, c) => a + c.count, 0);
    heatNote.textContent = mine.length
      ? `${fmt.format(n)} conflicts in ${mine.length} ground cell${mine.length === 1 ? "" : "s"} of ${mine[0].cell_m} m, ` +
        "over the camera's " +
        "count lines and zones (image pixels). Larger, darker marks: more conflicts." +
        (placed.length < mine.length ? ` ${mine.length - placed.length} cells could not be placed in the picture.` : "")
      : "No conflict located at this camera in this range.";
    drawing.replaceChildren(siteDrawing(shapes.get(key), placed, `${site}/${camera}`, n));
    cellTable.replaceChildren(cellsTable(mine));
  }

  async function drawDistributions() {
    const call = ++distCalls;
    const p = params();
    const chosen = dist.select.value ? JSON.parse(dist.select.value) : {};
    const filters = Object.fromEntries(Object.entries(chosen).filter(([, v]) => v != null));
    const found = await getJSON("/conflicts/histograms",
      { start: p.start, end: p.end, interval: p.interval, tz: p.tz, ...filters });
    if (call !== distCalls) return;
    dist.draw(found, dist.select.value ? place(chosen) : "every place");
  }

  // The minute's refresh from the start: a first load still coming in a minute on is followed by another.
  const later = debounce(run, 500);
  const stopTimer = refreshWhileRolling(picker, later);
  await run();
  return {
    onLive(msg) {
      if (msg.type === "conflict" && picker.isRolling()) later();
    },
    refresh: later,
    destroy() {
      stopTimer();
      shapes = new Map();
      dist.destroy();
    },
  };
}

/** The camera's lines and zones in image pixels, and a mark per conflict cell: an SVG with a text alternative. */
function siteDrawing(info, placed, name, total) {
  const points = [
    ...info.zones.flatMap((z) => z.config.polygon || []),
    ...info.lines.flatMap((l) => [l.config.p1, l.config.p2]),
    ...placed.map((c) => [c.image_x, c.image_y]),
  ];
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const left = Math.min(0, ...xs);
  const top = Math.min(0, ...ys);
  const right = Math.max(100, ...xs);
  const bottom = Math.max(100, ...ys);
  const unit = Math.max(right - left, bottom - top) / 40;
  // Room for a line's name above a line that starts at the drawing's top edge.
  const pad = Math.max(24, unit * 1.6);
  const x0 = left - pad;
  const y0 = top - pad;
  const width = right - left + 2 * pad;
  const height = bottom - top + 2 * pad;
  const most = Math.max(1, ...placed.map((c) => c.count));
  // Marks of neighbouring cells must not hide each other: the largest is at most half their spacing.
  const scale = Math.min(1, nearest(placed) / (2 * 2 * unit));
  const busiest = placed.slice().sort((a, b) => b.count - a.count)[0];
  const desc = placed.length
    ? `${total} conflicts at ${name}; the most, ${busiest.count}, in the cell from x ${busiest.x_m} m, ` +
      `y ${busiest.y_m} m on the ground. The table below lists every cell.`
    : `The drawing of ${name} has no conflict marks in this range.`;
  return svg("svg", { viewBox: `${x0} ${y0} ${width} ${height}`, role: "img", class: "site-drawing",
    "aria-labelledby": "heat-svg-title heat-svg-desc", preserveAspectRatio: "xMidYMid meet" },
  svg("title", { id: "heat-svg-title" }, `Conflict heat map over the drawing of ${name}`),
  svg("desc", { id: "heat-svg-desc" }, desc),
  svg("rect", { x: x0, y: y0, width, height, class: "frame" }),
  info.zones.map((z) => {
    const poly = z.config.polygon || [];
    // The name sits in the zone's top-left corner, where the heat marks (mostly central) leave it readable.
    const left = Math.min(...poly.map((p) => p[0]));
    const top = Math.min(...poly.map((p) => p[1]));
    return svg("g", { class: "zone" }, svg("polygon", { points: poly.map((p) => p.join(",")).join(" ") }),
      svg("text", { x: left + unit * 0.3, y: top + unit * 1.3, "font-size": unit }, z.name));
  }),
  info.lines.map((l) => svg("g", { class: "line" },
    svg("line", { x1: l.config.p1[0], y1: l.config.p1[1], x2: l.config.p2[0], y2: l.config.p2[1] }),
    svg("text", { x: l.config.p1[0], y: l.config.p1[1] - unit * 0.4, "font-size": unit }, l.name))),
  placed.map((c) => {
    const t = c.count / most;
    return svg("circle", { cx: c.image_x, cy: c.image_y, r: scale * unit * (0.6 + 1.4 * Math.sqrt(t)),
      fill: rampColour(t), class: "heat-mark", "data-count": c.count },
    svg("title", {}, `${c.count} conflicts in the ${c.cell_m} m cell from x ${c.x_m} m, y ${c.y_m} m (${c.zone})`));
  }));
}

/** At most this many places in the rate chart (the top of the ranking); the table has them all. */
const CHART_PLACES = 20;

/** A step of 1, 2 or 5 times a power of ten giving about five ticks up to ``top``. */
function tickStep(top) {
  const rough = top / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
}

/** Each ranked place's rate (a dot) and its 95 % interval (a bar), on one scale: an SVG with a text
 * alternative. Where two bars overlap, the two places' order may be chance. */
function rateChart(rows) {
  const shown = rows.filter((r) => r.per_1000 != null).slice(0, CHART_PLACES);
  if (!shown.length) return el("p", { class: "muted" }, "");
  // Room for the longest name at about 7 px a character (12 px text), within bounds; a longer name keeps
  // its end (the zone), and the full one is in the row's title.
  const fits = 52;
  const longest = Math.min(fits, Math.max(...shown.map((r) => place(r).length)));
  const label = 14 + 7 * longest;
  const name = (r) => (place(r).length > fits ? `…${place(r).slice(-(fits - 1))}` : place(r));
  const plot = 480;
  const rowH = 22;
  const top = Math.max(...shown.map((r) => r.per_1000_high));
  const step = tickStep(top || 1);
  const end = step * Math.ceil((top || 1) / step);
  const x = (v) => label + (plot * v) / end;
  const height = rowH * shown.length + 40;
  const ticks = [];
  for (let v = 0; v <= end + step / 2; v += step) ticks.push(v);
  const overlapsFirst = shown.slice(1).filter((r) => r.per_1000_high >= shown[0].per_1000_low).length;
  const desc = `Conflicts per 1,000 road users of ${shown.length} place${shown.length === 1 ? "" : "s"}, ` +
    `highest first, each with its 95 % interval. The highest, ${place(shown[0])}, ` +
    `${shown[0].per_1000.toFixed(1)} (${shown[0].per_1000_low.toFixed(1)}–${shown[0].per_1000_high.toFixed(1)}); ` +
    `${overlapsFirst} of the others' intervals overlap its own. The table above has the numbers.`;
  return svg("svg", { viewBox: `0 0 ${label + plot + 20} ${height}`, role: "img", class: "rate-svg",
    "aria-labelledby": "rates-title rates-desc" },
  svg("title", { id: "rates-title" }, "Conflict rates with their 95 % intervals"),
  svg("desc", { id: "rates-desc" }, desc),
  ticks.map((v) => svg("g", { class: "tick" },
    svg("line", { x1: x(v), x2: x(v), y1: 4, y2: height - 30 }),
    svg("text", { x: x(v), y: height - 16, "text-anchor": "middle" }, fmt.format(v)))),
  svg("text", { x: label + plot / 2, y: height - 2, "text-anchor": "middle", class: "axis-title" },
    "conflicts per 1,000 road users (dot) and 95 % interval (bar)"),
  shown.map((r, i) => {
    const y = 14 + i * rowH;
    const text = `${place(r)}: ${r.per_1000.toFixed(1)} per 1,000 road users (95 % interval ` +
      `${r.per_1000_low.toFixed(1)}–${r.per_1000_high.toFixed(1)}; ${r.conflicts} conflicts among ${r.road_users})`;
    return svg("g", { class: "rate-row", "data-place": place(r) },
      svg("title", {}, text),
      svg("text", { x: label - 8, y: y + 4, "text-anchor": "end" }, name(r)),
      svg("line", { class: "interval-bar", x1: x(r.per_1000_low), x2: x(r.per_1000_high), y1: y, y2: y,
        "data-low": r.per_1000_low, "data-high": r.per_1000_high }),
      svg("circle", { class: "rate-mark", cx: x(r.per_1000), cy: y, r: 5, "data-rate": r.per_1000 }));
  }));
}

/** The least distance between two cell centres in the picture (Infinity for fewer than two). */
function nearest(placed) {
  let least = Infinity;
  for (let i = 0; i < placed.length; i += 1) {
    for (let j = i + 1; j < placed.length; j += 1) {
      const d = Math.hypot(placed[i].image_x - placed[j].image_x, placed[i].image_y - placed[j].image_y);
      if (d > 0) least = Math.min(least, d);
    }
  }
  return least;
}

function heatLegend() {
  return el("div", { class: "legend heat-legend", id: "heat-legend" },
    el("span", {}, "Conflicts per cell, relative to the busiest: "),
    RAMP.map((colour, i) => el("span", { class: "legend-item" },
      el("span", { class: "swatch", style: { background: colour } }),
      `${Math.round((100 * i) / RAMP.length)}–${Math.round((100 * (i + 1)) / RAMP.length)} %`)));
}

function cellsTable(mine) {
  if (!mine.length) return el("p", { class: "muted" }, "");
  return el("details", {}, el("summary", {}, `The conflict cells as a table (${mine.length} ${mine.length === 1 ? "row" : "rows"})`),
    el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Conflict cells" },
      el("table", { class: "data compact", id: "heat-cells" },
        el("thead", {}, el("tr", {}, ["zone", "ground cell (m)", "conflicts"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, mine.map((c) => el("tr", {}, el("th", { scope: "row" }, c.zone),
          el("td", {}, `x ${c.x_m}–${c.x_m + c.cell_m}, y ${c.y_m}–${c.y_m + c.cell_m}`),
          el("td", {}, fmt.format(c.count))))))));
}

const binLabel = (b) => (b.to_s == null ? `${b.from_s} s or more` : `${b.from_s}–${b.to_s} s`);
const MEASURES = [
  ["ttc", "Least time to collision (TTC)", "TTC", "#dc2626"],
  ["pet", "Post-encroachment time (PET)", "PET", "#f59e0b"],
];

/** The TTC and PET distributions of the chosen place: two bar charts, a sentence and the numbers as tables. */
function distributionCard() {
  const select = el("select", { id: "dist-place", name: "dist-place" });
  const note = el("p", { id: "dist-note", "aria-live": "polite" });
  const table = el("div", { class: "chart-table", id: "dist-table" });
  const canvases = MEASURES.map(([key, title]) => el("canvas", { id: `dist-${key}`, role: "img",
    "aria-label": `${title}: conflicts per bin of the chosen place; the table below has the numbers` }));
  const card = el("section", { class: "card wide", "aria-labelledby": "dist-title" },
    el("div", { class: "card-head" }, el("h2", { id: "dist-title" }, "Time to collision and post-encroachment time"),
      el("label", {}, "Place ", select)),
    el("p", { class: "muted" }, "How near the misses were: each conflict's least TTC (if the two were on a " +
      "collision course) and its PET (if their paths crossed), summed over the range. Lower is closer."),
    note,
    el("div", { class: "dist-charts" }, canvases.map((c) => el("div", { class: "chart-box" }, c))),
    table);
  const charts = MEASURES.map(([, , short], i) => barChart(canvases[i], { xTitle: `${short}, s`, yTitle: "conflicts" }));
  charts.forEach((c) => { c.options.scales.y.ticks.precision = 0; }); // whole conflicts only

  function draw(found, name) {
    MEASURES.forEach(([key, , short, colour], i) => {
      charts[i].data.labels = found[key].map(binLabel);
      charts[i].data.datasets = [{ label: `conflicts by ${short}`, data: found[key].map((b) => b.count), backgroundColor: colour }];
      charts[i].update();
    });
    const total = (key) => found[key].reduce((a, b) => a + b.count, 0);
    const under1 = (key) => found[key].filter((b) => b.to_s != null && b.to_s <= 1).reduce((a, b) => a + b.count, 0);
    note.textContent = total("ttc") + total("pet")
      ? `At ${name}: ${fmt.format(total("ttc"))} conflicts had a TTC, ${fmt.format(under1("ttc"))} of them under ` +
        `1 s; ${fmt.format(total("pet"))} had a PET, ${fmt.format(under1("pet"))} of them under 1 s.`
      : `No conflict with a TTC or PET at ${name} in this range.`;
    note.dataset.ttc = String(total("ttc"));
    note.dataset.pet = String(total("pet"));
    const open = table.querySelector("details")?.open || false;
    const rows = MEASURES.flatMap(([key, , short]) => found[key].map((b) => el("tr", { "data-measure": key },
      el("th", { scope: "row" }, `${short} ${binLabel(b)}`), el("td", {}, fmt.format(b.count)))));
    table.replaceChildren(el("details", { open }, el("summary", {}, `Table of these numbers (${rows.length} rows)`),
      el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "TTC and PET distributions" },
        el("table", { class: "data compact", id: "dist-rows" },
          el("caption", {}, `TTC and PET of the conflicts at ${name}`),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "bin"), el("th", { scope: "col" }, "conflicts"))),
          el("tbody", {}, rows)))));
  }

  return { card, select, draw, destroy: () => charts.forEach((c) => c.destroy()) };
}
