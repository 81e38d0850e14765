// Small DOM and time helpers shared by the views.
import { isKiosk } from "./display.js";

/**
 * Build an element. `style` takes an object (set through the CSSOM: a strict content security policy
 * forbids style attributes); `on…` attributes take listeners.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") Object.assign(node.style, v);
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

/** The longest range the hub serves (its data endpoints answer 422 beyond it). */
export const MAX_RANGE_DAYS = 400;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const RANGES = [
  ["1h", "Last hour", HOUR],
  ["24h", "Last 24 hours", DAY],
  ["7d", "Last 7 days", 7 * DAY],
  ["30d", "Last 30 days", 30 * DAY],
  ["custom", "Chosen dates", null],
];
let pickers = 0;

/**
 * A range picker: rolling ranges (last hour, 24 h, 7 or 30 days, ending now at every refresh) or chosen
 * dates, and `fixed` ({start, end, text}: a given window, e.g. around an incident) when one is given, chosen
 * first. Returns {node, range(), label(), valid()}; range() gives ISO instants and, for rolling ranges,
 * moves with the clock. A range the hub would refuse is not asked for: the picker says why instead.
 */
export function rangePicker(initial, onChange, fixed = null) {
  const id = `range-${++pickers}`;
  const choices = fixed ? [["fixed", fixed.text, null], ...RANGES] : RANGES;
  const select = el("select", { id, name: "range" },
    choices.map(([value, text]) => el("option", { value, selected: value === (fixed ? "fixed" : initial) }, text)));
  const today = new Date();
  const first = new Date(today);
  first.setDate(first.getDate() - 6);
  const from = el("input", { type: "date", name: "from", value: isoDay(first), "aria-label": "From" });
  const to = el("input", { type: "date", name: "to", value: isoDay(today), "aria-label": "To" });
  const dates = el("span", { class: "dates" }, from, " – ", to);
  const problem = el("p", { class: "error range-error", role: "alert" });
  const rolling = () => choices.find(([value]) => value === select.value)[2];

  const range = () => {
    if (select.value === "fixed") return { start: fixed.start, end: fixed.end };
    const span = rolling();
    if (span) {
      const end = new Date();
      return { start: new Date(end - span).toISOString(), end: end.toISOString() };
    }
    const start = new Date(`${from.value}T00:00`);
    const end = new Date(`${to.value}T00:00`);
    end.setDate(end.getDate() + 1);
    return { start: start.toISOString(), end: end.toISOString() };
  };
  const valid = () => {
    problem.textContent = "";
    if (rolling() || select.value === "fixed") return true;
    if (!from.value || !to.value) {
      problem.textContent = "Choose both dates.";
      return false;
    }
    if (from.value > to.value) {
      problem.textContent = "The first date is after the last one: swap them.";
      return false;
    }
    const { start, end } = range();
    const days = Math.round((new Date(end) - new Date(start)) / DAY);
    if (days > MAX_RANGE_DAYS) {
      problem.textContent = `${days} days is longer than the ${MAX_RANGE_DAYS} days the hub serves at once: ` +
        "choose a shorter range. The charts still show the previous range.";
      return false;
    }
    return true;
  };
  const change = () => {
    dates.hidden = select.value !== "custom";
    if (valid()) onChange(range());
  };
  select.addEventListener("change", change);
  from.addEventListener("change", change);
  to.addEventListener("change", change);
  dates.hidden = select.value !== "custom";
  const label = () => (select.value !== "custom" ? select.selectedOptions[0].textContent.toLowerCase()
    : `${from.value} to ${to.value}`);
  const node = el("div", { class: "range" },
    el("label", { for: id }, "Range"), select, dates, problem);
  return { node, range, label, valid, isRolling: () => Boolean(rolling()) };
}

/** Runs fn at most once per `ms`, trailing: bursts of live events cause one refresh. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * While `picker` has a rolling range, call fn every minute (every 30 s on a wall display, `?kiosk=1`) while
 * the tab is visible: the range moves on even without new events. Returns the function that stops it.
 */
export function refreshWhileRolling(picker, fn) {
  return every(isKiosk() ? 30_000 : 60_000, () => {
    if (picker.isRolling()) fn();
  });
}

/** Every `ms` while the tab is visible, call fn (rolling ranges move on even without new events). */
export function every(ms, fn) {
  const timer = setInterval(() => {
    if (document.visibilityState === "visible") fn();
  }, ms);
  return () => clearInterval(timer);
}

/**
 * A colour on a white→blue ramp for a value in [0, 1]. The ramp stops at a mid blue so that dark text
 * on any cell keeps WCAG AA contrast (at least 4.5:1).
 */
export function heat(t) {
  const x = Math.max(0, Math.min(1, t));
  const r = Math.round(255 - 165 * x);
  const g = Math.round(255 - 110 * x);
  const b = Math.round(255 - 30 * x);
  return `rgb(${r},${g},${b})`;
}

/** The text colour for a heat(t) cell: the same dark ink on the whole ramp (see heat). */
export function heatInk() {
  return "#1d2330";
}
