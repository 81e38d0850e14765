// Small DOM and time helpers shared by the views.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) node.append(c instanceof Node ? c : String(c));
  return node;
}

export const fmt = new Intl.NumberFormat();

/** yyyy-mm-dd of a Date in local time, for <input type=date>. */
export function isoDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/**
 * A from/to date picker. Returns {node, range()} where range() gives ISO instants: start of the
 * first day to start of the day after the last, in the browser's time zone.
 */
export function dateRangePicker(days, onChange) {
  const today = new Date();
  const first = new Date(today);
  first.setDate(first.getDate() - (days - 1));
  const from = el("input", { type: "date", name: "from", value: isoDay(first) });
  const to = el("input", { type: "date", name: "to", value: isoDay(today) });
  const range = () => {
    const start = new Date(`${from.value}T00:00`);
    const end = new Date(`${to.value}T00:00`);
    end.setDate(end.getDate() + 1);
    return { start: start.toISOString(), end: end.toISOString() };
  };
  const change = () => {
    if (from.value && to.value && from.value <= to.value) onChange(range());
  };
  from.addEventListener("change", change);
  to.addEventListener("change", change);
  const node = el("div", { class: "range" }, el("label", {}, "From ", from), el("label", {}, "to ", to));
  return { node, range };
}

/** Runs fn at most once per `ms`, trailing: bursts of live events cause one refresh. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A colour on a white→blue ramp for a value in [0, 1]. */
export function heat(t) {
  const x = Math.max(0, Math.min(1, t));
  const r = Math.round(255 - 215 * x);
  const g = Math.round(255 - 155 * x);
  const b = Math.round(255 - 35 * x);
  return `rgb(${r},${g},${b})`;
}
