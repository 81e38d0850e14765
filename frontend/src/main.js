// Entry point: login, hash routing and the live stream that keeps the open view fresh.
// The views (and with them the chart and map libraries) load only after login: the login page stays small.
import "./style.css";
import { ApiError, AuthRequired, followLive, getJSON, getToken, setToken, whenSignedOut } from "./api.js";
import { clearNotice, showNotice } from "./notice.js";
import { applyDisplayMode } from "./display.js";
import { watchIncidents } from "./incident-watch.js";
import { watchHealth } from "./hub-health.js";
import { FIRST_RANGE, overviewRequests, rollingRange } from "./overview-data.js";

const app = document.getElementById("app");
let current = null; // { destroy(), onLive(msg) } of the view on screen
let me = null;
let mePromise = null;
let stopLive = null;
let incidentWatch = null; // the badge and notifications, for those who may see incidents
let retryTimer = null;
let stopHealth = null; // the header's word on whether the hub can take in data
const VERIFIED_KEY = "citytally.token-checked";
const LIVE_TEXT = { live: "live", reconnecting: "reconnecting…", offline: "offline", "signed out": "signed out" };

function setLiveStatus(state) {
  const badge = document.getElementById("live-status");
  badge.textContent = LIVE_TEXT[state] || state;
  badge.dataset.state = state;
}

let lost = null; // when the live stream lost the hub (a Date), while it is away
const OUTAGE = "The hub cannot be reached";

/**
 * The live stream's state, and what it says of the hub: it notices an outage within a second, so the page
 * says so then (and marks what it shows as no longer live), not at its next timed refresh a minute on; and
 * when the hub is back the page refreshes at once, or loads the page that could not be loaded.
 */
function liveStatusChanged(state) {
  setLiveStatus(state);
  if (state === "reconnecting" && !lost) {
    lost = new Date();
    const since = lost.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    app.querySelectorAll(".view").forEach((view) => view.classList.add("stale"));
    showNotice(`${OUTAGE} (since ${since}): the page still shows what it had, and updates when it is back.`);
  } else if (state === "live" && lost) {
    lost = null;
    if (!current) route();
    else if (current.refresh) current.refresh(); // a refresh that works clears the notice and the mark
  }
}

/** A load that failed in words a person reads (the browser says "Failed to fetch dynamically imported ..."). */
function loadProblem(err) {
  if (err instanceof ApiError && err.status !== 0) return err.message;
  return `${OUTAGE}.`;
}

function stopView() {
  if (stopLive) stopLive();
  stopLive = null;
  if (stopHealth) stopHealth();
  stopHealth = null;
  if (incidentWatch) incidentWatch.stop();
  incidentWatch = null;
  if (current) current.destroy();
  current = null;
}

function showLogin(message = "", { keepToken = false } = {}) {
  stopView();
  me = null;
  mePromise = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  app.replaceChildren();
  const form = document.createElement("form");
  form.className = "login card";
  form.innerHTML = `
    <h1>Log in</h1>
    <p>Paste the access token your hub administrator gave you. It is kept in this browser tab only.</p>
    <label>Token <input name="token" type="password" autocomplete="off" required /></label>
    <button type="submit">Log in</button>
    <p class="error" role="alert"></p>
    <p class="muted">Anyone may read the <a href="/register">public camera register</a> and the
      <a href="/pia">privacy impact assessment</a> without logging in.</p>`;
  form.querySelector(".error").textContent = message;
  if (keepToken) form.token.value = getToken() || "";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.removeItem(VERIFIED_KEY);
    setToken(form.token.value.trim());
    await start();
  });
  app.append(form);
}

/** A revoked or expired token: stop everything that used it and say so. */
function signedOut(err) {
  if (!me) return; // a login in progress reports its own failure
  setToken(null);
  sessionStorage.removeItem(VERIFIED_KEY);
  showLogin(err.message);
  setLiveStatus("signed out");
  showNotice(err.message, "error");
}

/** Locked out for a while (429): keep the token, say until when, and try again then by ourselves. */
function lockedOut(err) {
  showLogin(err.message, { keepToken: true });
  clearTimeout(retryTimer);
  const wait = err.retryAt ? Math.max(1000, err.retryAt - Date.now()) : 60_000;
  retryTimer = setTimeout(() => start(), wait);
}

async function start() {
  clearTimeout(retryTimer);
  clearNotice();
  if (!getToken()) return showLogin();
  // Who we are and the page's own data are asked for together: the first paint waits for neither.
  // A token this tab already used successfully is trusted enough to start the page's requests at once;
  // a freshly typed one is checked first, so a typo costs one failed login, not one per request.
  mePromise = getJSON("/dashboard/api/me");
  const trusted = sessionStorage.getItem(VERIFIED_KEY) === "yes";
  const routed = trusted ? route() : null;
  try {
    me = await mePromise;
    sessionStorage.setItem(VERIFIED_KEY, "yes");
  } catch (err) {
    stopView();
    if (err instanceof ApiError && err.status === 429) return lockedOut(err);
    if (err instanceof AuthRequired) {
      setToken(null);
      sessionStorage.removeItem(VERIFIED_KEY);
      return showLogin("That token was not accepted (unknown, revoked or expired). Check it and try again.");
    }
    return showLogin(err.message, { keepToken: true });
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("nav-incidents").hidden = !me.can_see_incidents;
  document.getElementById("who").textContent = `${me.name} (${me.role})`;
  if (me.can_see_incidents && !incidentWatch) incidentWatch = watchIncidents();
  if (!stopLive) stopLive = followLive(onLive, liveStatusChanged);
  if (!stopHealth) stopHealth = watchHealth();
  await (routed || route());
}

function onLive(msg) {
  if (incidentWatch) incidentWatch.onLive(msg);
  if (current && current.onLive) current.onLive(msg);
}

async function loadView(parts, root) {
  if (parts[0] === "camera" && parts[3] === "geometry") {
    const { editorView, notForYou } = await import("./editor.js");
    const admin = (await mePromise).role === "admin";
    return admin ? editorView(root, parts[1], parts[2]) : notForYou(root, parts[1], parts[2]);
  }
  if (parts[0] === "camera" && parts.length >= 3) {
    const { cameraView } = await import("./camera.js");
    // #/camera/SITE/CAMERA/at/START/END: the charts around a moment (an incident's), marked on them.
    const moment = parts[3] === "at" && parts.length >= 6 ? { start: parts[4], end: parts[5] } : null;
    return cameraView(root, parts[1], parts[2], moment, (await mePromise).role === "admin");
  }
  if (parts[0] === "incidents" && (await mePromise).can_see_incidents) {
    const { incidentsView } = await import("./incidents.js");
    return incidentsView(root, await mePromise, () => incidentWatch && incidentWatch.refresh());
  }
  if (parts[0] === "weak-spots") {
    const { weakSpotsView } = await import("./weakspots.js");
    return weakSpotsView(root);
  }
  // The overview's data is asked for while its scripts load, not after they have started.
  const loading = import("./overview.js");
  const early = overviewRequests(rollingRange(FIRST_RANGE));
  const { overviewView } = await loading;
  return overviewView(root, early);
}

let routes = 0; // a newer navigation makes a view still loading for an older one obsolete
let reloadTimer = null;
const RELOAD_S = 10;

async function route() {
  if (!mePromise) return;
  if (current) current.destroy();
  current = null;
  clearTimeout(reloadTimer);
  // the page left behind takes its word with it (an outage is said again by whatever still meets it)
  if (!lost) clearNotice();
  const seq = ++routes;
  // Each view draws into its own holder (display: contents, so the page grid still applies): a view
  // that finishes loading after the user moved on is removed with its holder.
  const holder = document.createElement("div");
  holder.className = "view";
  app.replaceChildren(holder);
  const hash = window.location.hash || "#/";
  const parts = hash.slice(2).split("/").map(decodeURIComponent);
  const section = ["incidents", "weak-spots"].includes(parts[0]) ? `#/${parts[0]}` : "#/";
  document.querySelectorAll("#nav a").forEach((a) => {
    if (a.getAttribute("href") === section) {
      a.setAttribute("aria-current", "page");
    } else a.removeAttribute("aria-current");
  });
  try {
    const view = await loadView(parts, holder);
    if (seq !== routes) {
      view.destroy();
      holder.remove();
      return;
    }
    current = view;
  } catch (err) {
    if (seq !== routes) return holder.remove();
    if (err instanceof AuthRequired) return; // signedOut() or start() has shown the login form
    if (err instanceof ApiError && err.status === 429) return lockedOut(err);
    console.error(err);
    // what a wait can mend (the hub away, or failing) is tried again; a page that is not there is not
    const mendable = !(err instanceof ApiError) || err.status === 0 || err.status >= 500;
    const again = mendable ? ` Trying again in ${RELOAD_S} s.` : "";
    showNotice(`Could not load this page. ${loadProblem(err)}${again}`);
    if (mendable) reloadTimer = setTimeout(() => { if (seq === routes) route(); }, RELOAD_S * 1000);
  }
}

document.getElementById("logout").addEventListener("click", () => {
  setToken(null);
  sessionStorage.removeItem(VERIFIED_KEY);
  showLogin();
});
/**
 * A printed demo link may carry the token in the fragment (#token=...), which browsers never send to a
 * server: keep it in this tab like a typed one and take it out of the address bar and history.
 */
function takeTokenFromLink() {
  const match = window.location.hash.match(/^#token=([A-Za-z0-9_-]{1,200})$/);
  if (!match) return;
  sessionStorage.removeItem(VERIFIED_KEY);
  setToken(match[1]);
  history.replaceState(null, "", window.location.pathname + window.location.search + "#/");
}

whenSignedOut(signedOut);
applyDisplayMode();
window.addEventListener("hashchange", route);
takeTokenFromLink();
start();
