// The overview: camera map with live counts, city totals by class, busiest lines, activity heat map.
import { barChart, CLASS_NAMES, colourFor } from "./charts.js";
import { cameraMap } from "./map.js";
import { markUpdated, refresher } from "./notice.js";
import { cameraList, FIRST_RANGE, localZone, overviewData, overviewRequests, statusList } from "./overview-data.js";
import { debounce, el, fmt, heat, heatInk, rangePicker, refreshWhileRolling } from "./util.js";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/** `early`: the first paint's requests (see overview-data.js) if the caller started them already. */
export async function overviewView(root, early = null) {
  const mapBox = el("div", { id: "map", class: "map", role: "region", "aria-label": "Map of the cameras" });
  const cameraLinks = el("div", { id: "camera-list", class: "table-scroll", tabindex: "0", role: "region",
    "aria-label": "Cameras and their status" });
  const totalsCanvas = el("canvas", { id: "totals-chart", role: "img", "aria-label": "Crossings by class" });
  const totalsTable = el("div", { id: "totals-table" });
  const linesList = el("ol", { id: "busiest-lines", class: "busiest" });
  const heatBox = el("div", { id: "heatmap" });
  let firstPaint;
  const painted = new Promise((resolve) => {
    firstPaint = resolve;
  });
  // A range chosen while the first data load runs is asked for once the first paint is done.
  const run = refresher(async () => {
    await painted;
    await refresh();
  }, root);
  const picker = rangePicker(FIRST_RANGE, () => run());
  const summary = el("p", { id: "overview-summary", class: "summary", "aria-live": "polite" });
  root.append(
    el("section", { class: "card wide overview-head" },
      el("h1", {}, "Overview"), picker.node),
    el("section", { class: "card wide", "aria-labelledby": "cameras-title" },
      el("h2", { id: "cameras-title" }, "Cameras"), mapBox, cameraLinks),
    el("section", { class: "card", "aria-labelledby": "totals-title" },
      el("h2", { id: "totals-title" }, "City totals by class"), summary,
      el("div", { class: "chart-box" }, totalsCanvas), totalsTable),
    el("section", { class: "card" }, el("h2", {}, "Busiest count lines"), linesList),
    el("section", { class: "card wide" }, el("h2", {}, "Activity by hour and weekday"),
      el("p", { class: "muted" }, `Crossings in each hour of the week, summed over the range, in ${localZone()} time (0 also where no ` +
        "camera reported)."), heatBox),
  );

  // Everything the first paint needs is asked for at once; nothing waits on anything else.
  const firstWhen = picker.label(); // the first data's range, FIRST_RANGE
  const [mapInputs, cameras, first, statuses] = await (early || overviewRequests(picker.range()));
  performance.mark("citytally:data-received");
  const open = (cam) => {
    window.location.hash = `#/camera/${encodeURIComponent(cam.site)}/${encodeURIComponent(cam.camera)}`;
  };
  const mapView = cameraMap(mapBox, cameras, mapInputs, open, firstWhen);
  const totalsChart = barChart(totalsCanvas, { yTitle: "crossings in the range" });
  totalsChart.options.plugins.legend.display = false;

  function draw(cams, ov, status, when) {
    mapView.update(cams, when);
    cameraLinks.replaceChildren(cameraTable(cams, status, when));
    const classes = Object.keys(ov.totals);
    const all = classes.reduce((a, c) => a + ov.totals[c], 0);
    const share = (n) => (all ? `${((100 * n) / all).toFixed(1)} %` : "–"); // the modal split
    totalsChart.data.labels = classes.map((c) => CLASS_NAMES[c] || c);
    totalsChart.data.datasets = [{
      label: "crossings", data: classes.map((c) => ov.totals[c]), backgroundColor: classes.map(colourFor),
    }];
    totalsChart.update();
    totalsTable.replaceChildren(el("table", { class: "data compact" },
      el("caption", { class: "visually-hidden" }, `Crossings by class, ${when}`),
      el("tbody", {}, classes.map((c) => el("tr", {},
        el("th", { scope: "row" }, el("span", { class: "swatch", style: { background: colourFor(c) } }),
          CLASS_NAMES[c] || c),
        el("td", { class: "num" }, fmt.format(ov.totals[c])),
        el("td", { "data-share": c }, share(ov.totals[c])))))));
    // crossings, not road users: one that crosses two lines counts at each
    summary.textContent = `${fmt.format(all)} crossings at ${cams.length} camera${cams.length === 1 ? "" : "s"}, ${when}`;
    summary.dataset.total = String(all);
    linesList.replaceChildren(...ov.busiest_lines.map((l) => el("li", {},
      el("a", { href: `#/camera/${encodeURIComponent(l.site)}/${encodeURIComponent(l.camera)}` },
        `${l.camera_name} · ${l.line}`), " ", el("span", { class: "num" }, fmt.format(l.total)))));
    if (!ov.busiest_lines.length) linesList.replaceChildren(el("li", { class: "muted" }, "No crossings in this range."));
    heatBox.replaceChildren(...heatTable(ov.heatmap));
    markUpdated(root);
  }

  async function refresh() {
    const range = picker.range();
    const when = picker.label(); // the range asked for, whatever is chosen by the time its answer comes
    const [cams, ov, status] = await Promise.all([cameraList(range), overviewData(range), statusList()]);
    draw(cams, ov, status, when);
  }
  draw(cameras, first, statuses, firstWhen);
  firstPaint();
  performance.mark("citytally:charts-drawn");

  const later = debounce(run, 250);
  const stopTimer = refreshWhileRolling(picker, later);
  return {
    onLive: later,
    refresh: later,
    destroy() {
      stopTimer();
      mapView.destroy();
      totalsChart.destroy();
    },
  };
}

const STATE_TEXT = { reporting: "reporting", silent: "silent", "no data": "no data yet" };
/** How a camera's view changed, as its view_changed incident says. */
const VIEW_TEXT = { moved: "moved", lost: "lost (covered or turned away)", blurred: "blurred" };

function ago(iso) {
  if (!iso) return "never";
  const minutes = Math.round((Date.now() - Date.parse(iso)) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 120) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h ago` : `${Math.round(hours / 24)} days ago`;
}

/** Every camera with its state, when its newest data ended, its edge's backlog and its crossings. */
function cameraTable(cams, status, when) {
  const byKey = new Map(status.map((s) => [`${s.site}/${s.camera}`, s]));
  const head = ["camera", "state", "newest data", "edge backlog", `crossings, ${when}`];
  return el("table", { class: "data cameras" },
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, cams.map((c) => {
      const s = byKey.get(`${c.site}/${c.camera}`);
      const backlog = s && s.outbox_depth != null
        ? `${fmt.format(s.outbox_depth)} events${s.outbox_depth ? `, oldest ${Math.round(s.outbox_oldest_s)} s` : ""}`
        : "no status received";
      const held = s && s.outbox_held ? el("span", { class: "outbox-held", "data-held": String(s.outbox_held),
        title: "Events the edge holds in memory because its outbox file refuses them (a full or failing " +
          "disk): lost if the edge stops before the file takes them." },
      ` · ${fmt.format(s.outbox_held)} held in memory: its disk refuses writes`) : null;
      const dropped = s && s.outbox_dropped ? el("span", { class: "outbox-dropped",
        "data-dropped": String(s.outbox_dropped),
        title: "Events the edge dropped since it started: its outbox file refused them and its memory hold " +
          "was full, or it stopped while holding them. They are lost." },
      ` · ${fmt.format(s.outbox_dropped)} lost at the edge`) : null;
      return el("tr", { "data-camera": `${c.site}/${c.camera}` },
        el("th", { scope: "row" },
          el("a", { href: `#/camera/${encodeURIComponent(c.site)}/${encodeURIComponent(c.camera)}` }, c.name)),
        el("td", {}, el("span", { class: `state state-${(s?.state || "unknown").replace(" ", "-")}` },
          s ? STATE_TEXT[s.state] || s.state : "unknown"),
        s?.view_changed ? el("span", { class: "view-changed-mark", "data-view-changed": s.view_changed,
          title: "The camera's view is knocked, turned, covered or out of focus: its counts may be wrong." },
        ` · view ${VIEW_TEXT[s.view_changed] || "changed"}`) : null),
        el("td", { title: s?.last_data_end || "" }, ago(s?.last_data_end)),
        el("td", {}, backlog, held, dropped),
        el("td", { class: "num" }, fmt.format(c.total)));
    })));
}

/** The week × hour grid as a table whose cells hold their numbers (shown on request), and its legend. */
function heatTable(grid) {
  const max = Math.max(1, ...grid.flat());
  const head = el("tr", {}, el("td", {}),
    ...Array.from({ length: 24 }, (_, h) => el("th", { scope: "col", class: h % 3 ? "minor" : "" }, String(h))));
  const rows = grid.map((row, d) => el("tr", {}, el("th", { scope: "row" }, WEEKDAYS[d]),
    ...row.map((v, h) => el("td", {
      style: { background: heat(v / max), color: heatInk(v / max) },
      title: `${WEEKDAYS[d]} ${h}:00–${h + 1}:00 · ${fmt.format(v)}`,
    }, el("span", { class: "heat-value" }, fmt.format(v))))));
  const table = el("table", { class: "heat" },
    el("caption", { class: "visually-hidden" }, "Crossings by weekday (rows) and hour of day (columns)"),
    el("thead", {}, head), el("tbody", {}, rows));
  const scroller = el("div", { class: "heat-scroll", tabindex: "0", role: "group",
    "aria-label": "Activity table; scroll sideways with the arrow keys" }, table);
  const toggle = el("button", { type: "button", id: "heat-values", "aria-pressed": "false" }, "Show numbers");
  toggle.addEventListener("click", () => {
    const on = table.classList.toggle("show-values");
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? "Hide numbers" : "Show numbers";
  });
  const scale = el("div", { class: "heat-legend" },
    el("span", {}, "0"), el("span", { class: "heat-ramp", "aria-hidden": "true" }),
    el("span", {}, `${fmt.format(max)} crossings in one hour of the week`));
  return [el("div", { class: "heat-tools" }, scale, toggle), scroller];
}
