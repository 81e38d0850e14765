// Incidents watched from every view (operators and admins): the count badge in the navigation and a
// browser notification when a new critical incident arrives. Notifications are asked for with a button
// (browsers grant them only on a click) and may be turned off again in this browser.
import { getJSON } from "./api.js";
import { debounce, el, every } from "./util.js";

const NOTIFY_KEY = "citytally.notify-critical";
const POLL_MS = 30_000;

/** Who an incident is: its events share `incident_id`; a one-off report is its own. */
export const incidentKey = (i) => i.incident_id || i.id;

export const incidentTitle = (i) => i.incident.replaceAll("_", " ");

/** "unsupported", "blocked", "on", "off" (allowed but turned off here) or "ask" (not asked yet). */
export function notifyState() {
  if (!("Notification" in window)) return "unsupported";
  if (Notification.permission === "denied") return "blocked";
  if (Notification.permission === "granted") return localStorage.getItem(NOTIFY_KEY) === "off" ? "off" : "on";
  return "ask";
}

const BUTTON_TEXT = {
  unsupported: "This browser cannot show notifications",
  blocked: "Notifications are blocked in this browser's site settings",
  on: "Notifying of critical incidents: turn off",
  off: "Notify me of critical incidents",
  ask: "Notify me of critical incidents",
};

/** The button that asks for (or turns off) notifications of critical incidents. */
export function notifyButton() {
  const button = el("button", { type: "button", id: "notify-critical" });
  const show = () => {
    const state = notifyState();
    button.textContent = BUTTON_TEXT[state];
    button.dataset.state = state;
    button.disabled = state === "unsupported" || state === "blocked";
    button.setAttribute("aria-pressed", String(state === "on"));
  };
  // The click does what the button said (the permission may have changed since it was drawn).
  button.addEventListener("click", async () => {
    if (button.dataset.state === "on") localStorage.setItem(NOTIFY_KEY, "off");
    else {
      localStorage.setItem(NOTIFY_KEY, "on");
      if (Notification.permission === "default") await Notification.requestPermission();
    }
    show();
  });
  show();
  return button;
}

function setBadge(summary) {
  const badge = document.getElementById("incident-badge");
  const n = summary ? summary.open : 0;
  const critical = summary ? summary.by_severity.critical || 0 : 0;
  badge.hidden = !summary;
  badge.dataset.open = String(n);
  badge.dataset.critical = String(critical);
  badge.classList.toggle("critical", critical > 0);
  const said = `${n} not acknowledged${critical ? `, ${critical} critical` : ""}`;
  // critical ones said in writing too, not by the badge's colour alone
  const shown = critical ? `${n} · ${critical} critical` : String(n);
  badge.replaceChildren(el("span", { "aria-hidden": "true" }, shown),
    el("span", { class: "visually-hidden" }, `: ${said}`));
}

function notify(i) {
  const where = [i.camera_name, i.zone || i.line].filter(Boolean).join(", ");
  const since = new Date(i.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const note = new Notification(`Critical incident: ${incidentTitle(i)}`, {
    body: `${where} (${i.site}), since ${since}`,
    tag: `citytally-${incidentKey(i)}`,
  });
  note.addEventListener("click", () => {
    window.focus();
    window.location.hash = "#/incidents";
    note.close();
  });
}

/**
 * Keep the badge current and notify of critical incidents that arrive while the page is open (those already
 * open at login are on the badge, not notified; one acknowledged that becomes critical again is). Returns
 * {onLive(msg), stop()}.
 */
export function watchIncidents() {
  let known = null; // keys of the critical incidents waiting for an acknowledgement at the last look
  let stopped = false;

  async function refresh() {
    const [summary, critical] = await Promise.all([
      getJSON("/incidents/summary"),
      getJSON("/incidents", { severity: "critical", limit: 100 }),
    ]);
    if (stopped) return;
    setBadge(summary);
    const fresh = known ? critical.filter((i) => !known.has(incidentKey(i))) : [];
    // Those waiting now: one that leaves the list (acknowledged, or eased) and comes back critical and
    // unacknowledged (it got worse again) is notified again.
    known = new Set(critical.map(incidentKey));
    if (notifyState() === "on") fresh.forEach(notify);
  }
  const later = debounce(() => refresh().catch(() => {}), 200);
  refresh().catch(() => {});
  // Acknowledgements made elsewhere are not events on the live stream: look again now and then.
  const stopTimer = every(POLL_MS, later);
  return {
    onLive(msg) {
      if (msg.type === "incident") later();
    },
    refresh: later,
    stop() {
      stopped = true;
      stopTimer();
      setBadge(null);
    },
  };
}
