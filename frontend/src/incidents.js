// The incidents panel (operators and admins): one row per incident (its latest event), the most severe
// first and the newest first within a severity, with whether it is still going on, the numbers behind it,
// a link to the camera's charts around it and an acknowledge action; below it, how many incidents began
// per day over the last 30 days, by type, and the cameras where most began. Refreshed live.
import { getJSON, postJSON } from "./api.js";
import { barChart, dataTable, timeText } from "./charts.js";
import { incidentTitle, notifyButton } from "./incident-watch.js";
import { guarded, markUpdated, refresher } from "./notice.js";
import { localZone } from "./overview-data.js";
import { debounce, el, fmt } from "./util.js";

const HISTORY_DAYS = 30;
/** A colour per incident type (Okabe–Ito, as the road-user classes); grey for any other. */
const TYPE_COLOURS = {
  stopped_vehicle: "#d55e00", wrong_way: "#cc79a7", congestion: "#e69f00", queue: "#f0e442",
  pedestrian_on_roadway: "#0072b2", crowd_density: "#009e73", left_object: "#56b4e9", view_changed: "#000000",
};

/** Units named by the end of a detail's key (the edge's convention), longest first. */
const UNITS = [
  ["_per_m2", "per m²"], ["_kmh", "km/h"], ["_deg", "°"], ["_m2", "m²"], ["_px", "px"], ["_s", "s"], ["_m", "m"],
];
const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "medium" });

/** [label, value with its unit] of one of an incident's details. */
function detail(key, value) {
  const [suffix, unit] = UNITS.find(([s]) => key.endsWith(s)) || ["", ""];
  const name = key.slice(0, key.length - suffix.length).replaceAll("_", " ");
  const shown = typeof value === "number" ? fmt.format(value) : value;
  return [name, unit === "°" ? `${shown}°` : (unit ? `${shown} ${unit}` : String(shown))];
}

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The camera's charts around the incident (from an hour before it began to an hour after its end). */
export function chartLink(i) {
  const at = [i.start, i.end].map((t) => new Date(t).toISOString()).join("/");
  return `#/camera/${encodeURIComponent(i.site)}/${encodeURIComponent(i.camera)}/at/${at}`;
}

/** Cleared because the camera's stream ended, not because the condition did: it may go on. */
const streamEnded = (i) => i.phase === "cleared" && Boolean(i.details && i.details.stream_ended);

/** Why a row's state reads as it does, where it needs saying. */
function stateTitle(i) {
  if (streamEnded(i)) return "The camera's stream ended while it held: it may go on.";
  if (i.open && i.silent) {
    return "An open incident is reported every 5 minutes; none came for 15: the camera's edge has stopped " +
      "(killed, powered off or cut off), so whether it goes on is not known, and it will not be cleared.";
  }
  return "";
}

/** The expandable numbers behind one incident. */
function detailsCell(i) {
  const numbers = Object.entries(i.details || {}).filter(([k]) => k !== "stream_ended").map(([k, v]) => detail(k, v));
  const ended = streamEnded(i) ? "the camera's stream ended (it may go on)" : "ended";
  const facts = [
    ["began", when(i.start)],
    [i.open ? (i.silent ? "last report (none since: its edge stopped)" : "latest observation")
      : (i.phase === "cleared" ? ended : "last seen"), when(i.end)],
    ["lasted", `${duration(Date.parse(i.end) - Date.parse(i.start))}${i.open ? " so far" : ""}`],
    ["where", `${i.site}/${i.camera}${i.zone ? `, zone ${i.zone}` : ""}${i.line ? `, line ${i.line}` : ""}`],
    ["report", i.phase ? `${i.phase} (one incident, reported as it goes)` : "one-off report"],
    ...numbers,
  ];
  const summary = numbers.map(([k, v]) => `${k} ${v}`).join(", ") || "details";
  return el("details", { class: "incident-details" },
    el("summary", {}, summary),
    el("dl", {}, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
}

/**
 * Incidents that began per day (days of the browser's time zone) over the last 30 days, stacked by type,
 * with the cameras where most began: where the same trouble keeps coming back. From
 * /dashboard/api/incident-days, which sums the hub's 15-minute roll-ups by local day.
 */
function historyCard() {
  const canvas = el("canvas", { id: "incident-history-chart", role: "img",
    "aria-label": `Incidents that began per day, the last ${HISTORY_DAYS} days, by type` });
  const table = el("div", { id: "incident-history-table" });
  const places = el("div", { id: "incident-places" });
  const note = el("p", { class: "muted" });
  const card = el("section", { class: "card wide", "aria-labelledby": "incident-history-title" },
    el("h2", { id: "incident-history-title" }, `Incidents that began, per day (last ${HISTORY_DAYS} days)`),
    note, el("div", { class: "chart-box" }, canvas), table, places);
  const chart = barChart(canvas, { stacked: true, yTitle: "incidents that began" });
  chart.options.scales.y.ticks.precision = 0; // whole incidents

  async function refresh() {
    const { tz, days, counts: points } = await getJSON("/dashboard/api/incident-days",
      { tz: localZone(), days: HISTORY_DAYS });
    note.textContent = `Days in ${tz}; each incident counts once, on the day it began. A day without a bar: `
      + "no incident began, or no camera reported.";
    const types = [...new Set(points.map((p) => p.incident))].sort();
    // Each day labelled by its local noon, so that its date reads the same in this zone.
    const noons = days.map((d) => {
      const [y, m, n] = d.split("-").map(Number);
      return new Date(y, m - 1, n, 12).getTime();
    });
    chart.data.labels = noons.map((t) => timeText(t, "1d"));
    chart.data.datasets = types.map((type) => {
      const perDay = new Map();
      for (const p of points.filter((q) => q.incident === type)) {
        perDay.set(p.day, (perDay.get(p.day) || 0) + p.count);
      }
      const colour = TYPE_COLOURS[type] || "#767676";
      return { label: type.replaceAll("_", " "), data: days.map((d) => perDay.get(d) || 0),
        backgroundColor: colour, borderColor: colour };
    });
    chart.update();
    dataTable(table, "Incidents that began per day, by type", noons,
      chart.data.datasets.map((d) => ({ label: d.label, values: d.data })), "1d");
    const byPlace = new Map();
    for (const p of points) {
      const key = `${p.site}/${p.camera}\t${p.incident}`;
      byPlace.set(key, (byPlace.get(key) || 0) + p.count);
    }
    const ranked = [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, 10);
    places.replaceChildren(ranked.length
      ? el("table", { class: "data", id: "incident-places-table" },
        el("caption", {}, `Where most incidents began, the last ${HISTORY_DAYS} days`),
        el("thead", {}, el("tr", {}, ["Camera", "Type", "Incidents"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ranked.map(([key, n]) => {
          const [camera, type] = key.split("\t");
          return el("tr", {}, el("td", {}, camera), el("td", {}, type.replaceAll("_", " ")),
            el("td", {}, fmt.format(n)));
        })))
      : el("p", { class: "muted" }, `No incident began in the last ${HISTORY_DAYS} days.`));
  }
  return { card, refresh };
}

export async function incidentsView(root, me, onAcknowledged = () => {}) {
  const showAcked = el("input", { type: "checkbox", id: "show-acked" });
  const body = el("tbody", { id: "incident-rows" });
  root.append(el("section", { class: "card wide" },
    el("div", { class: "card-head" }, el("h1", {}, "Incidents"),
      el("div", { class: "tools" }, notifyButton(), el("label", {}, showAcked, " show acknowledged"))),
    el("p", { class: "muted" }, "Most severe first, newest first within a severity; acknowledged ones last."),
    el("div", { class: "incidents-scroll", tabindex: "0", role: "region", "aria-label": "Incidents table" },
      el("table", { class: "incidents" },
        el("thead", {}, el("tr", {}, ...["Time", "Camera", "Type", "Severity", "Where", "State", "Details", "Status",
          ""].map((h) => el("th", { scope: "col" }, h)))),
        body))));
  const history = historyCard();
  root.append(history.card);
  const run = refresher(async () => {
    await Promise.all([refresh(), history.refresh()]);
    markUpdated(root);
  }, root);
  showAcked.addEventListener("change", () => run());

  async function refresh() {
    const list = await getJSON("/incidents", { include_acknowledged: showAcked.checked ? "true" : "" });
    // A row whose details are open stays open across a refresh.
    const opened = new Set([...body.querySelectorAll("tr[data-key]")]
      .filter((tr) => tr.querySelector("details[open]")).map((tr) => tr.dataset.key));
    body.replaceChildren(...list.map((i) => row(i, opened.has(i.incident_id || i.id))));
    const none = showAcked.checked ? "No incidents." : "No incident waiting to be acknowledged.";
    if (!list.length) body.append(el("tr", {}, el("td", { colspan: 9, class: "muted" }, none)));
  }

  function row(i, opened) {
    const ack = el("button", { type: "button", class: "ack" }, "Acknowledge",
      el("span", { class: "visually-hidden" }, `: ${i.camera_name}, ${incidentTitle(i)}`));
    ack.addEventListener("click", async () => {
      ack.disabled = true;
      // refused or unanswered: the notice says why, and the button can be pressed again
      if (!(await guarded(() => postJSON(`/incidents/${i.id}/ack`), root))) {
        ack.disabled = false;
        return;
      }
      // the rows are drawn anew: keep the keyboard where it was, on the next button down (or the last)
      const at = [...body.querySelectorAll("button.ack")].indexOf(ack);
      await run();
      onAcknowledged();
      const buttons = [...body.querySelectorAll("button.ack")];
      (buttons[Math.min(at, buttons.length - 1)] || showAcked).focus();
    });
    // who acknowledged goes with the raw events (a camera's view changes outlive them); when stays
    const who = i.acknowledged_by_label ? `by ${i.acknowledged_by_label} ` : "";
    const status = i.acknowledged_at
      ? `acknowledged ${who}${new Date(i.acknowledged_at).toLocaleString()}`
      : "not acknowledged";
    const endedAt = new Date(i.end).toLocaleTimeString();
    const state = i.open ? (i.silent ? `no report since ${new Date(i.end).toLocaleString()}` : "ongoing")
      : (i.phase === "cleared" ? `${streamEnded(i) ? "stream ended" : "ended"} ${endedAt}`
        : (i.phase ? "" : "one report, no onset or end"));
    const details = detailsCell(i);
    details.open = opened;
    return el("tr", { "data-id": i.id, "data-key": i.incident_id || i.id,
      class: `sev-${i.severity}${i.open ? " open" : ""}${i.acknowledged_at ? " acked" : ""}` },
      el("td", {}, new Date(i.start).toLocaleString()),
      el("td", {}, el("a", { href: `#/camera/${i.site}/${i.camera}` }, i.camera_name)),
      el("td", {}, incidentTitle(i)),
      el("td", {}, el("span", { class: `severity severity-${i.severity}` }, i.severity)),
      el("td", {}, i.zone || i.line || ""),
      el("td", stateTitle(i) ? { class: "state", title: stateTitle(i) } : { class: "state" }, state),
      el("td", { class: "details" }, details),
      el("td", { class: "status" }, status),
      el("td", { class: "actions" },
        el("a", { href: chartLink(i), class: "chart-link" }, "Charts at that time",
          el("span", { class: "visually-hidden" }, `: ${i.camera_name}, ${incidentTitle(i)}`)),
        i.acknowledged_at || !me.can_acknowledge ? "" : ack));
  }
  await run();
  const later = debounce(run, 200);
  return { onLive: (msg) => { if (msg.type === "incident") later(); }, refresh: run, destroy() {} };
}
