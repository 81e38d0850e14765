// The overview: camera map with live counts, city totals by class, busiest lines, activity heat map.
import { getJSON } from "./api.js";
import { barChart, colourFor } from "./charts.js";
import { cameraMap, loadMapInputs } from "./map.js";
import { dateRangePicker, debounce, el, fmt, heat } from "./util.js";

const startOfToday = () => {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
};
const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export async function overviewView(root) {
  const mapBox = el("div", { id: "map", class: "map" });
  const totalsCanvas = el("canvas", { id: "totals-chart" });
  const linesList = el("ol", { id: "busiest-lines", class: "busiest" });
  const heatBox = el("div", { id: "heatmap" });
  const picker = dateRangePicker(7, () => refresh());
  const summary = el("p", { id: "overview-summary", class: "summary" });
  root.append(
    el("section", { class: "card wide" }, el("h2", {}, "Cameras"), mapBox),
    el("section", { class: "card" },
      el("div", { class: "card-head" }, el("h2", {}, "City totals by class"), picker.node), summary,
      el("div", { class: "chart-box" }, totalsCanvas)),
    el("section", { class: "card" }, el("h2", {}, "Busiest count lines"), linesList),
    el("section", { class: "card wide" }, el("h2", {}, "Activity by hour and weekday"), heatBox),
  );

  const cameraList = () => getJSON("/dashboard/api/cameras", { since: startOfToday() });
  const overviewData = () => getJSON("/dashboard/api/overview", { ...picker.range(), tz: localZone() });
  // Everything the first paint needs is asked for at once; nothing waits on anything else.
  const [mapInputs, cameras, first] = await Promise.all([loadMapInputs(), cameraList(), overviewData()]);
  performance.mark("citytally:data-received");
  const mapView = cameraMap(mapBox, cameras, mapInputs, (cam) => {
    window.location.hash = `#/camera/${encodeURIComponent(cam.site)}/${encodeURIComponent(cam.camera)}`;
  });
  const totalsChart = barChart(totalsCanvas, { yTitle: "road users" });
  totalsChart.options.plugins.legend.display = false;

  function draw(cams, ov) {
    mapView.update(cams);
    const classes = Object.keys(ov.totals);
    totalsChart.data.labels = classes;
    totalsChart.data.datasets = [{
      label: "crossings", data: classes.map((c) => ov.totals[c]),
      backgroundColor: classes.map(colourFor),
    }];
    totalsChart.update();
    const all = classes.reduce((a, c) => a + ov.totals[c], 0);
    summary.textContent = `${fmt.format(all)} road users counted by ${cams.length} cameras`;
    summary.dataset.total = String(all);
    linesList.replaceChildren(...ov.busiest_lines.map((l) => el("li", {},
      el("a", { href: `#/camera/${encodeURIComponent(l.site)}/${encodeURIComponent(l.camera)}` },
        `${l.camera_name} · ${l.line}`), " ", el("span", { class: "num" }, fmt.format(l.total)))));
    if (!ov.busiest_lines.length) linesList.replaceChildren(el("li", { class: "muted" }, "No counts yet."));
    heatBox.replaceChildren(heatTable(ov.heatmap));
  }

  async function refresh() {
    const [cams, ov] = await Promise.all([cameraList(), overviewData()]);
    draw(cams, ov);
  }
  draw(cameras, first);
  performance.mark("citytally:charts-drawn");

  const later = debounce(() => refresh().catch(() => {}), 250);
  return {
    onLive: later,
    destroy() {
      mapView.destroy();
      totalsChart.destroy();
    },
  };
}

function heatTable(grid) {
  const max = Math.max(1, ...grid.flat());
  const head = el("tr", {}, el("th", {}, ""), ...Array.from({ length: 24 }, (_, h) => el("th", {}, String(h))));
  const rows = grid.map((row, d) => el("tr", {}, el("th", {}, WEEKDAYS[d]),
    ...row.map((v, h) => el("td", {
      style: `background:${heat(v / max)}`, title: `${WEEKDAYS[d]} ${h}:00 · ${fmt.format(v)}`,
    }))));
  return el("table", { class: "heat" }, el("thead", {}, head), el("tbody", {}, rows));
}
