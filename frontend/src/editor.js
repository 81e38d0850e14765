// The geometry editor (admins): a camera's count lines and zones drawn over its masked still.
// Click twice for a line, click the vertices of a zone, drag any point; every point also has number fields,
// so the whole editor works from the keyboard. Save sends the geometry to the hub, which validates it with
// the camera TOML's own rules; its problems are shown next to the fields they concern.
import { downloadCSV, getJSON, putJSON } from "./api.js";
import { el } from "./util.js";

const SVG = "http://www.w3.org/2000/svg";
const MIN_FRAME = [640, 480];
const HELP = {
  idle: "Add a line or a zone, drag a point on the picture, or type its coordinates below.",
  line: "New line: click its start point on the picture, then its end point. Escape cancels.",
  zone: "New zone: click its corners on the picture in order; Finish zone (or Enter) closes it. Escape cancels.",
};

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c != null) node.append(c instanceof Node ? c : String(c));
  return node;
}

const round = (v) => Math.round(v * 10) / 10;
const copy = (value) => JSON.parse(JSON.stringify(value));

/** A name not yet used by an item of `items`: `${stem}-1`, `${stem}-2`, ... */
function freshName(items, stem) {
  const used = new Set(items.map((item) => item.name));
  let n = items.length + 1;
  while (used.has(`${stem}-${n}`)) n += 1;
  return `${stem}-${n}`;
}

/** The frame the drawing is in: the camera's frame size, its still's, or one holding every point. */
function frameOf(state) {
  if (state.frame_size) return state.frame_size;
  if (state.still) return [state.still.width, state.still.height];
  const points = [...state.lines.flatMap((l) => [l.p1, l.p2]), ...state.zones.flatMap((z) => z.polygon)];
  const w = Math.max(MIN_FRAME[0], ...points.map((p) => Math.ceil(p[0] * 1.1)));
  const h = Math.max(MIN_FRAME[1], ...points.map((p) => Math.ceil(p[1] * 1.1)));
  return [w, h];
}

/** What a token without the admin role sees at an editor's address. */
export function notForYou(root, site, camera) {
  root.append(el("section", { class: "card wide", id: "editor-refused" },
    el("h1", {}, `Lines and zones of ${site}/${camera}`),
    el("p", {}, "Only an admin token may change a camera's lines and zones. Ask the hub's administrator."),
    el("a", { href: `#/camera/${encodeURIComponent(site)}/${encodeURIComponent(camera)}` }, "Back to the camera")));
  return { destroy() {} };
}

export async function editorView(root, site, camera) {
  const path = `/cameras/${encodeURIComponent(site)}/${encodeURIComponent(camera)}/geometry`;
  let state = await getJSON(path);
  let draft = { lines: copy(state.lines), zones: copy(state.zones) };
  let frame = frameOf(state);
  let mode = "idle";
  let pending = []; // points clicked for the line or zone being drawn
  let drag = null; // {kind, index, point}

  const canvas = svg("svg", { class: "geometry-svg", role: "img", id: "geometry-svg" });
  const help = el("p", { id: "editor-help", "aria-live": "polite" }, HELP.idle);
  const about = el("p", { id: "editor-about", class: "muted" });
  const stillNote = el("p", { id: "still-note", class: "muted", role: "note" });
  const saved = el("p", { id: "editor-status", role: "status" });
  const general = el("div", { id: "editor-errors", class: "error", role: "alert" });
  const lineList = el("div", { id: "line-list" });
  const zoneList = el("div", { id: "zone-list" });
  const addLine = el("button", { type: "button", id: "add-line" }, "Add line");
  const addZone = el("button", { type: "button", id: "add-zone" }, "Add zone");
  const finishZone = el("button", { type: "button", id: "finish-zone", hidden: true }, "Finish zone");
  const stopDrawing = el("button", { type: "button", id: "stop-drawing", hidden: true }, "Stop drawing");
  const save = el("button", { type: "button", id: "save-geometry", class: "primary" }, "Save");
  const cancel = el("button", { type: "button", id: "cancel-geometry" }, "Cancel changes");
  const toml = el("button", { type: "button", id: "download-toml" }, "Download TOML");
  root.append(
    el("section", { class: "card wide editor", "aria-labelledby": "editor-title" },
      el("div", { class: "card-head" },
        el("h1", { id: "editor-title" }, `Lines and zones of ${site}/${camera}`),
        el("a", { href: `#/camera/${encodeURIComponent(site)}/${encodeURIComponent(camera)}` }, "Back to the camera")),
      about, stillNote,
      el("div", { class: "tools editor-tools" }, addLine, addZone, finishZone, stopDrawing),
      help,
      el("div", { class: "geometry-canvas" }, canvas),
      el("div", { class: "tools editor-tools" }, save, cancel, toml),
      saved, general),
    el("section", { class: "card", "aria-labelledby": "lines-title" },
      el("h2", { id: "lines-title" }, "Count lines"), lineList),
    el("section", { class: "card", "aria-labelledby": "zones-title" },
      el("h2", { id: "zones-title" }, "Zones"), zoneList),
  );

  function describe() {
    const rev = state.revision == null ? "no revision recorded yet"
      : `revision ${state.revision}, ${state.origin === "file" ? "read from the camera's config file"
        : `saved in the dashboard by ${state.saved_by}`} (${new Date(state.saved_at).toLocaleString()})`;
    const file = state.in_config_file ? "" : " Not in the camera's config file yet: download the TOML and " +
      "put its tables into the camera's file (on the edge and the hub) so the edge counts with it.";
    about.textContent = `In force: ${rev}.${file}`;
    const size = state.frame_size ? "" : ` The camera's config has no frame_size: the picture is taken as ` +
      `${frame[0]} × ${frame[1]} pixels and points are not checked against it.`;
    stillNote.textContent = (state.still ? "The picture is the camera's masked still." : state.still_note) + size;
  }

  // -- the picture --------------------------------------------------------------------------------------

  function toImage(ev) {
    const point = canvas.createSVGPoint();
    point.x = ev.clientX;
    point.y = ev.clientY;
    const p = point.matrixTransform(canvas.getScreenCTM().inverse());
    return [round(Math.min(frame[0], Math.max(0, p.x))), round(Math.min(frame[1], Math.max(0, p.y)))];
  }

  function handle(kind, index, point, at, label) {
    const node = svg("circle", { cx: at[0], cy: at[1], r: Math.max(5, frame[0] / 140), class: `handle ${kind}`,
      "data-kind": kind, "data-index": index, "data-point": point });
    node.append(svg("title", {}, label));
    node.addEventListener("pointerdown", (ev) => {
      if (mode !== "idle") return;
      ev.preventDefault();
      ev.stopPropagation();
      canvas.setPointerCapture(ev.pointerId);
      drag = { kind, index, point };
    });
    return node;
  }

  /** Arrows across a line for its two directions: [0] crosses from the left of p1→p2 to its right. */
  function directionMarks(line, scale) {
    const [dx, dy] = [line.p2[0] - line.p1[0], line.p2[1] - line.p1[1]];
    const length = Math.hypot(dx, dy) || 1;
    const [lx, ly] = [dy / length * scale, -dx / length * scale]; // towards the walker's left
    return [0, 1].map((i) => {
      const t = i === 0 ? 0.4 : 0.6;
      const [mx, my] = [line.p1[0] + dx * t, line.p1[1] + dy * t];
      const sign = i === 0 ? 1 : -1;
      const from = [mx + lx * sign, my + ly * sign];
      const to = [mx - lx * sign, my - ly * sign];
      const label = [mx - lx * sign * 1.7, my - ly * sign * 1.7 + scale * 0.2]; // beyond the arrow's head
      return svg("g", { class: "direction" },
        svg("line", { x1: from[0], y1: from[1], x2: to[0], y2: to[1], "marker-end": "url(#arrow)" }),
        svg("text", { x: label[0], y: label[1], "text-anchor": "middle" }, line.directions[i] || "?"));
    });
  }

  function draw() {
    const [w, h] = frame;
    const scale = Math.max(w, h) / 25;
    canvas.setAttribute("viewBox", `0 0 ${w} ${h}`);
    canvas.style.fontSize = `${scale * 0.55}px`; // user units: labels keep their size against the picture
    canvas.setAttribute("aria-label", `Camera picture, ${w} × ${h} pixels, with ${draft.lines.length} ` +
      `lines and ${draft.zones.length} zones; every point can also be typed in the lists below.`);
    canvas.dataset.mode = mode;
    const background = state.still
      ? svg("image", { href: state.still.image, x: 0, y: 0, width: w, height: h })
      : svg("rect", { x: 0, y: 0, width: w, height: h, class: "blank" });
    const marker = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 8, refY: 5,
      markerWidth: 5, markerHeight: 5, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z" })));
    const zones = draft.zones.map((zone, i) => svg("g", { class: "zone", "data-name": zone.name },
      svg("polygon", { points: zone.polygon.map((p) => p.join(",")).join(" ") }),
      svg("text", { x: zone.polygon[0][0] + 4, y: zone.polygon[0][1] + scale }, zone.name),
      zone.polygon.map((p, j) => handle("zone", i, j, p, `${zone.name}, corner ${j + 1}`))));
    const lines = draft.lines.map((line, i) => svg("g", { class: "count-line", "data-name": line.name },
      svg("line", { x1: line.p1[0], y1: line.p1[1], x2: line.p2[0], y2: line.p2[1] }),
      directionMarks(line, scale),
      svg("text", { x: line.p1[0] + 4, y: line.p1[1] - 6 }, line.name),
      handle("line", i, "p1", line.p1, `${line.name}, start (p1)`),
      handle("line", i, "p2", line.p2, `${line.name}, end (p2)`)));
    const drawing = pending.length ? svg("g", { class: "pending" },
      svg("polyline", { points: pending.map((p) => p.join(",")).join(" ") }),
      pending.map((p) => svg("circle", { cx: p[0], cy: p[1], r: Math.max(4, w / 160) }))) : null;
    canvas.replaceChildren(marker, background, ...zones, ...lines, ...(drawing ? [drawing] : []));
  }

  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const p = toImage(ev);
    if (drag.kind === "line") draft.lines[drag.index][drag.point] = p;
    else draft.zones[drag.index].polygon[drag.point] = p;
    draw();
    syncInputs();
  });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("click", (ev) => {
    if (mode === "idle") return;
    pending.push(toImage(ev));
    if (mode === "line" && pending.length === 2) {
      const name = freshName(draft.lines, "line");
      draft.lines.push({ name, p1: pending[0], p2: pending[1], directions: ["left-to-right", "right-to-left"] });
      setMode("idle", `Line ${name} added. Rename it and its directions below.`);
      renderLists();
    }
    draw();
  });

  function setMode(next, message = null) {
    mode = next;
    pending = [];
    finishZone.hidden = next !== "zone";
    stopDrawing.hidden = next === "idle";
    addLine.setAttribute("aria-pressed", String(next === "line"));
    addZone.setAttribute("aria-pressed", String(next === "zone"));
    help.textContent = message || HELP[next];
    draw();
  }

  function finish() {
    if (pending.length < 3) {
      help.textContent = "A zone needs at least three corners: click more on the picture.";
      return;
    }
    const name = freshName(draft.zones, "zone");
    draft.zones.push({ name, polygon: pending });
    setMode("idle", `Zone ${name} added. Rename it below.`);
    renderLists();
  }

  addLine.addEventListener("click", () => setMode(mode === "line" ? "idle" : "line"));
  addZone.addEventListener("click", () => setMode(mode === "zone" ? "idle" : "zone"));
  finishZone.addEventListener("click", finish);
  stopDrawing.addEventListener("click", () => setMode("idle"));
  const onKey = (ev) => {
    if (mode === "idle") return;
    if (ev.key === "Escape") setMode("idle", "Drawing cancelled.");
    if (ev.key === "Enter" && mode === "zone" && !ev.target.closest("input, textarea, select, a")) {
      ev.preventDefault(); // a focused button (Add zone) is not pressed as well
      finish();
    }
  };
  document.addEventListener("keydown", onKey);

  // -- the lists: every name, direction and point as a field -----------------------------------------------

  function field(loc, labelText, input) {
    return el("div", { class: "field", "data-loc": loc },
      el("label", {}, labelText, " ", input), el("p", { class: "field-error", hidden: true }));
  }

  function textInput(value, onInput, attrs = {}) {
    const input = el("input", { type: "text", value, spellcheck: "false", autocomplete: "off", ...attrs });
    input.addEventListener("input", () => { onInput(input.value.trim()); draw(); });
    return input;
  }

  function pointInputs(loc, label, get, set) {
    const make = (axis) => {
      const input = el("input", { type: "number", step: "any", min: 0, max: frame[axis], class: "coord",
        "data-coord": `${loc}:${axis}`, value: get()[axis], "aria-label": `${label} ${axis ? "y" : "x"}` });
      input.addEventListener("input", () => {
        const value = Number.parseFloat(input.value);
        if (Number.isFinite(value)) { set(axis, value); draw(); }
      });
      return input;
    };
    return el("div", { class: "field point", "data-loc": loc },
      el("span", { class: "point-label" }, label), " x ", make(0), " y ", make(1),
      el("p", { class: "field-error", hidden: true }));
  }

  function lineItem(line, i) {
    const loc = `lines[${i}]`;
    const remove = el("button", { type: "button", class: "delete" }, `Delete line ${i + 1}`);
    remove.addEventListener("click", () => { draft.lines.splice(i, 1); renderLists(); draw(); });
    return el("fieldset", { class: "item", "data-loc": loc, "data-name": line.name },
      el("legend", {}, `Line ${i + 1}`),
      field(`${loc}.name`, "Name", textInput(line.name, (v) => { line.name = v; }, { name: `line-${i}-name` })),
      el("div", { class: "field", "data-loc": `${loc}.directions` },
        el("label", {}, "Crossing left → right of start→end ",
          textInput(line.directions[0], (v) => { line.directions[0] = v; }, { name: `line-${i}-dir-0` })),
        el("label", {}, " right → left ",
          textInput(line.directions[1], (v) => { line.directions[1] = v; }, { name: `line-${i}-dir-1` })),
        el("p", { class: "field-error", hidden: true })),
      pointInputs(`${loc}.p1`, `Line ${i + 1} start`, () => line.p1, (a, v) => { line.p1[a] = v; }),
      pointInputs(`${loc}.p2`, `Line ${i + 1} end`, () => line.p2, (a, v) => { line.p2[a] = v; }),
      el("p", { class: "field-error", hidden: true }), remove);
  }

  function zoneItem(zone, i) {
    const loc = `zones[${i}]`;
    const remove = el("button", { type: "button", class: "delete" }, `Delete zone ${i + 1}`);
    remove.addEventListener("click", () => { draft.zones.splice(i, 1); renderLists(); draw(); });
    const corner = el("button", { type: "button" }, `Add a corner to zone ${i + 1}`);
    corner.addEventListener("click", () => {
      const [a, b] = [zone.polygon[zone.polygon.length - 1], zone.polygon[0]];
      zone.polygon.push([round((a[0] + b[0]) / 2), round((a[1] + b[1]) / 2)]);
      renderLists();
      draw();
    });
    const corners = zone.polygon.map((p, j) => {
      const drop = el("button", { type: "button", class: "small" }, `Remove corner ${j + 1} of zone ${i + 1}`);
      drop.addEventListener("click", () => { zone.polygon.splice(j, 1); renderLists(); draw(); });
      const inputs = pointInputs(`${loc}.polygon[${j}]`, `Zone ${i + 1} corner ${j + 1}`,
        () => zone.polygon[j], (a, v) => { zone.polygon[j][a] = v; });
      inputs.append(drop);
      return inputs;
    });
    return el("fieldset", { class: "item", "data-loc": loc, "data-name": zone.name },
      el("legend", {}, `Zone ${i + 1}`),
      field(`${loc}.name`, "Name", textInput(zone.name, (v) => { zone.name = v; }, { name: `zone-${i}-name` })),
      el("div", { class: "field", "data-loc": `${loc}.polygon` }, el("p", { class: "field-error", hidden: true })),
      ...corners, corner, el("p", { class: "field-error", hidden: true }), remove);
  }

  function typedNew(kind) {
    const [w, h] = frame;
    if (kind === "line") {
      draft.lines.push({ name: freshName(draft.lines, "line"), p1: [round(w * 0.25), round(h / 2)],
        p2: [round(w * 0.75), round(h / 2)], directions: ["left-to-right", "right-to-left"] });
    } else {
      draft.zones.push({ name: freshName(draft.zones, "zone"), polygon: [[round(w * 0.4), round(h * 0.4)],
        [round(w * 0.6), round(h * 0.4)], [round(w * 0.6), round(h * 0.6)], [round(w * 0.4), round(h * 0.6)]] });
    }
    renderLists();
    draw();
    const list = kind === "line" ? lineList : zoneList;
    list.querySelector("fieldset:last-of-type input")?.focus();
  }

  function renderLists() {
    const newLine = el("button", { type: "button", id: "type-line" }, "New line (type its points)");
    const newZone = el("button", { type: "button", id: "type-zone" }, "New zone (type its corners)");
    newLine.addEventListener("click", () => typedNew("line"));
    newZone.addEventListener("click", () => typedNew("zone"));
    const none = (items, text) => (items.length ? [] : [el("p", { class: "muted" }, text)]);
    lineList.replaceChildren(...draft.lines.map(lineItem), ...none(draft.lines, "No count lines."), newLine);
    zoneList.replaceChildren(...draft.zones.map(zoneItem), ...none(draft.zones, "No zones."), newZone);
  }

  /** After a drag: the moved point's number fields show where it is now. */
  function syncInputs() {
    for (const input of root.querySelectorAll("input[data-coord]")) {
      if (input === document.activeElement) continue;
      const [loc, axis] = input.dataset.coord.split(":");
      const m = loc.match(/^(lines|zones)\[(\d+)\]\.(p1|p2|polygon\[(\d+)\])$/);
      if (!m) continue;
      const item = draft[m[1]][Number(m[2])];
      const point = m[1] === "lines" ? item[m[3]] : item.polygon[Number(m[4])];
      if (point) input.value = point[Number(axis)];
    }
  }

  // -- saving ---------------------------------------------------------------------------------------------

  function clearErrors() {
    general.replaceChildren();
    for (const p of root.querySelectorAll(".field-error")) { p.textContent = ""; p.hidden = true; }
    for (const input of root.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  /** The field a problem's location names, or the nearest enclosing item; null for the camera as a whole. */
  function holderOf(loc) {
    let best = null;
    for (const node of root.querySelectorAll("[data-loc]")) {
      const own = node.dataset.loc;
      const inside = loc === own || loc.startsWith(`${own}.`) || loc.startsWith(`${own}[`);
      if (inside && (!best || own.length > best.dataset.loc.length)) best = node;
    }
    return best;
  }

  let errorIds = 0;
  function showErrors(details) {
    clearErrors();
    const rest = [];
    for (const { loc, msg } of details) {
      const holder = holderOf(loc);
      const slot = holder && holder.querySelector(":scope > .field-error");
      if (!slot) { rest.push(`${loc}: ${msg}`); continue; }
      slot.id = slot.id || `field-error-${++errorIds}`;
      slot.textContent = slot.textContent ? `${slot.textContent} ${msg}` : msg;
      slot.hidden = false;
      for (const input of holder.querySelectorAll(":scope input, :scope > label input")) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", slot.id);
      }
    }
    const count = details.length;
    general.append(el("p", {}, `Not saved: the hub found ${count} problem${count === 1 ? "" : "s"}` +
      (rest.length < count ? ", shown next to the fields below." : ".")));
    if (rest.length) general.append(el("ul", {}, rest.map((text) => el("li", {}, text))));
  }

  async function doSave() {
    if (save.disabled) return; // a second press while the first is on its way would send the same revision
    clearErrors();
    saved.textContent = "Saving…";
    save.disabled = true;
    try {
      state = await putJSON(path, { revision: state.revision, lines: draft.lines, zones: draft.zones });
    } catch (err) {
      saved.textContent = "";
      if (err.status === 422 && err.details && err.details.length) return showErrors(err.details);
      if (err.status === 401) return;
      general.append(el("p", {}, err.status === 409 ? `Not saved: ${err.detail}.` : err.message));
      return;
    } finally {
      save.disabled = false;
    }
    reset(`Saved as revision ${state.revision}.`);
  }

  function reset(message) {
    draft = { lines: copy(state.lines), zones: copy(state.zones) };
    frame = frameOf(state);
    clearErrors();
    setMode("idle");
    renderLists();
    describe();
    saved.textContent = message;
    canvas.dataset.revision = state.revision ?? "";
  }

  save.addEventListener("click", doSave);
  cancel.addEventListener("click", async () => {
    state = await getJSON(path);
    reset("Changes discarded: showing what is in force.");
  });
  toml.addEventListener("click", () =>
    downloadCSV(`${path}.toml`, {}, `${site}-${camera}-geometry.toml`).catch((err) => {
      general.replaceChildren(el("p", {}, err.message));
    }));

  reset("");
  return { destroy() { document.removeEventListener("keydown", onKey); } };
}
