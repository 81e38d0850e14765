// Display modes for wall screens: dark or light colours, and a kiosk mode without the controls.
//   ?theme=dark|light   (otherwise the device's preference, or the top bar's toggle, kept in this browser)
//   ?kiosk=1            (no log-out or range controls; larger text; the view refreshes by itself)

const THEME_KEY = "citytally.theme";

export function isKiosk() {
  return new URLSearchParams(window.location.search).get("kiosk") === "1";
}

function preferredTheme() {
  const asked = new URLSearchParams(window.location.search).get("theme");
  if (asked === "dark" || asked === "light") return asked;
  const kept = localStorage.getItem(THEME_KEY);
  if (kept === "dark" || kept === "light") return kept;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const toggle = document.getElementById("theme-toggle");
  toggle.setAttribute("aria-pressed", String(theme === "dark"));
  window.dispatchEvent(new CustomEvent("citytally:theme", { detail: theme }));
}

export function currentTheme() {
  return document.documentElement.dataset.theme || "light";
}

export function applyDisplayMode() {
  setTheme(preferredTheme());
  if (isKiosk()) document.documentElement.classList.add("kiosk");
  document.getElementById("theme-toggle").addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_KEY, next);
    setTheme(next);
  });
}
