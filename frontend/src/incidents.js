// The incidents panel (operators and admins): one row per incident (its latest event), newest first, with
// whether it is still going on, the numbers behind it, and an acknowledge action. Refreshed live.
import { getJSON, postJSON } from "./api.js";
import { debounce, el } from "./util.js";

export async function incidentsView(root, me) {
  const showAcked = el("input", { type: "checkbox", id: "show-acked" });
  const body = el("tbody", { id: "incident-rows" });
  root.append(el("section", { class: "card wide" },
    el("div", { class: "card-head" }, el("h1", {}, "Incidents"),
      el("label", {}, showAcked, " show acknowledged")),
    el("table", { class: "incidents" },
      el("thead", {}, el("tr", {}, ...["Time", "Camera", "Type", "Severity", "Where", "State", "Details", "Status", ""]
        .map((h) => el("th", {}, h)))),
      body)));
  showAcked.addEventListener("change", () => refresh());

  async function refresh() {
    const list = await getJSON("/incidents", { include_acknowledged: showAcked.checked ? "true" : "" });
    body.replaceChildren(...list.map((i) => row(i)));
    if (!list.length) body.append(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No open incidents.")));
  }

  function row(i) {
    const ack = el("button", { type: "button", class: "ack" }, "Acknowledge");
    ack.addEventListener("click", async () => {
      ack.disabled = true;
      await postJSON(`/incidents/${i.id}/ack`);
      await refresh();
    });
    const status = i.acknowledged_at
      ? `acknowledged by ${i.acknowledged_by} ${new Date(i.acknowledged_at).toLocaleString()}`
      : "open";
    const state = i.open ? "ongoing" : (i.phase === "cleared" ? `ended ${new Date(i.end).toLocaleTimeString()}` : "");
    const details = Object.entries(i.details || {}).map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`).join(", ");
    return el("tr", { "data-id": i.id, class: `sev-${i.severity}${i.open ? " open" : ""}` },
      el("td", {}, new Date(i.start).toLocaleString()),
      el("td", {}, el("a", { href: `#/camera/${i.site}/${i.camera}` }, i.camera_name)),
      el("td", {}, i.incident.replaceAll("_", " ")),
      el("td", {}, i.severity),
      el("td", {}, i.zone || i.line || ""),
      el("td", { class: "state" }, state),
      el("td", { class: "details" }, details),
      el("td", {}, status),
      el("td", {}, i.acknowledged_at || !me.can_acknowledge ? "" : ack));
  }
  await refresh();
  const later = debounce(() => refresh().catch(() => {}), 200);
  return { onLive: (msg) => { if (msg.type === "incident") later(); }, destroy() {} };
}
