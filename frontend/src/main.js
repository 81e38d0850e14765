// Entry point: login, hash routing and the live stream that keeps the open view fresh.
import "./style.css";
import { AuthRequired, followLive, getJSON, getToken, setToken } from "./api.js";
import { cameraView } from "./camera.js";
import { incidentsView } from "./incidents.js";
import { overviewView } from "./overview.js";

const app = document.getElementById("app");
let current = null; // { destroy(), refresh(), onLive(msg) } of the view on screen
let me = null;
let mePromise = null;
let stopLive = null;
const VERIFIED_KEY = "citytally.token-checked";

function setLiveStatus(text) {
  const el = document.getElementById("live-status");
  el.textContent = text;
  el.dataset.state = text;
}

function showLogin(message = "") {
  if (stopLive) stopLive();
  stopLive = null;
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
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.removeItem(VERIFIED_KEY);
    setToken(form.token.value.trim());
    await start();
  });
  app.append(form);
}

async function start() {
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
    setToken(null);
    sessionStorage.removeItem(VERIFIED_KEY);
    if (current) current.destroy();
    current = null;
    return showLogin(err instanceof AuthRequired ? "That token was not accepted." : String(err));
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("nav-incidents").hidden = !me.can_see_incidents;
  document.getElementById("who").textContent = `${me.name} (${me.role})`;
  if (!stopLive) stopLive = followLive(onLive, setLiveStatus);
  await (routed || route());
}

function onLive(msg) {
  if (current && current.onLive) current.onLive(msg);
}

async function route() {
  if (!mePromise) return;
  if (current) current.destroy();
  current = null;
  app.replaceChildren();
  const hash = window.location.hash || "#/";
  const parts = hash.slice(2).split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "camera" && parts.length >= 3) {
      current = await cameraView(app, parts[1], parts[2]);
    } else if (parts[0] === "incidents" && (await mePromise).can_see_incidents) {
      current = await incidentsView(app, await mePromise);
    } else {
      current = await overviewView(app);
    }
  } catch (err) {
    if (err instanceof AuthRequired) {
      if (me) showLogin("Your session has ended; log in again.");
      return; // before `me` has answered, start() shows the login form
    }
    console.error(err);
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `Could not load this page: ${err.message}`;
    app.append(p);
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

window.addEventListener("hashchange", route);
takeTokenFromLink();
start();
