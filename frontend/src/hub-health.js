// Whether the hub can take in data at all. Its /health says when the database is out of reach or damaged,
// when the broker has been for 30 s (no event can arrive: the live views would just look quiet) or when
// ingest has stalled; the header says so, with since when, until it is over. Asked every 30 s, every 5 s
// while wrong.
const OK_EVERY_MS = 30_000;
const WRONG_EVERY_MS = 5_000;

function minutes(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The header's words for a /health answer; "" when all is well. */
export function healthText(h) {
  if (!h || h.status === "ok") return "";
  if (h.database === "unreachable") return "Hub: its database is out of reach; nothing new is stored.";
  if (h.database === "damaged") {
    return "Hub: its store is damaged; figures may be missing and events may not be stored (see /health).";
  }
  if (h.status === "stalled") return `Hub: storing has stalled for ${minutes(h.ingest_stalled_s)}.`;
  if (h.broker === "disconnected") {
    return `Hub: no broker for ${minutes(h.broker_down_s)}; no new data can arrive.`;
  }
  return "Hub: degraded (see /health).";
}

/** Keep the header's hub badge current; returns a function that stops it. */
export function watchHealth() {
  const badge = document.getElementById("hub-health");
  let timer = null;
  let stopped = false;
  async function check() {
    let text = "";
    try {
      const res = await fetch("/health", { cache: "no-store" });
      text = healthText(await res.json());
    } catch {
      text = ""; // the hub itself out of reach: the live badge says "offline" already
    }
    badge.textContent = text;
    badge.hidden = !text;
    if (!stopped) timer = setTimeout(check, text ? WRONG_EVERY_MS : OK_EVERY_MS);
  }
  check();
  return () => {
    stopped = true;
    clearTimeout(timer);
    badge.hidden = true;
  };
}
