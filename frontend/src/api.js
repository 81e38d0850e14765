// The dashboard's only door to the hub: bearer-token fetches and the live event stream.
// Every failure becomes an ApiError that says what happened and what to do about it.

const TOKEN_KEY = "citytally.token";

/**
 * A failed request: `status` (0: the hub could not be reached), the hub's one-line `detail`, `retryAt`,
 * and the hub's per-field `details` ({loc, msg} each) where it gave them.
 */
export class ApiError extends Error {
  constructor(status, detail, retryAfterS = null, details = []) {
    super(explain(status, detail, retryAfterS));
    this.status = status;
    this.detail = detail;
    this.details = details;
    this.retryAt = retryAfterS == null ? null : new Date(Date.now() + retryAfterS * 1000);
  }
}

/** The token was refused (missing, revoked or expired): the tab is signed out. */
export class AuthRequired extends ApiError {
  constructor(detail = "token no longer valid") {
    super(401, detail);
  }
}

function clock(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function explain(status, detail, retryAfterS) {
  switch (true) {
    case status === 0:
      return "The hub cannot be reached. Check the network connection; the page tries again by itself.";
    case status === 401:
      return "Signed out: this token is no longer valid (revoked or expired). Log in with a valid token.";
    case status === 403:
      return `Not allowed for this token: ${detail}. Ask an administrator for a token with that role.`;
    case status === 429: {
      const wait = retryAfterS ?? 60;
      const at = clock(new Date(Date.now() + wait * 1000));
      return `Too many failed logins from this network address, so the hub turns away unknown tokens ` +
        `for a while. Try again after ${at} (in ${wait} s); your token is kept, so a typo can be corrected.`;
    }
    case status === 422:
      return `The hub refused this request: ${detail}. Change the range or the choice and try again.`;
    case status >= 500:
      return `The hub failed to answer (error ${status}). Try again in a minute; if it keeps failing, ` +
        "tell the hub's administrator.";
    default:
      return `The request failed (error ${status}): ${detail}`;
  }
}

let onSignedOut = () => {};

/** Called once for any request answered 401: the views stop and the login form takes over. */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers() {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function problem(res) {
  let detail = res.statusText || "no reason given";
  let details = [];
  try {
    const body = await res.json();
    if (body && body.error && body.error.message) detail = body.error.message;
    if (body && body.error && Array.isArray(body.error.details)) details = body.error.details;
  } catch {
    // not the hub's JSON error body (a proxy's page): the status line is all there is
  }
  const retry = Number.parseInt(res.headers.get("Retry-After") || "", 10);
  const err = res.status === 401
    ? new AuthRequired(detail)
    : new ApiError(res.status, detail, Number.isFinite(retry) ? retry : null, details);
  if (err instanceof AuthRequired && getToken()) onSignedOut(err);
  return err;
}

async function send(url, init) {
  let res;
  try {
    res = await fetch(url, { ...init, headers: { ...headers(), ...(init.headers || {}) } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, String(err.message || err));
  }
  if (!res.ok) throw await problem(res);
  return res;
}

function withParams(path, params) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") url.searchParams.set(k, v);
  return url;
}

export async function getJSON(path, params = {}) {
  return (await send(withParams(path, params), {})).json();
}

export async function postJSON(path, body = {}) {
  const res = await send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return res.json();
}

export async function putJSON(path, body) {
  const res = await send(path, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return res.json();
}

/** Download a CSV (or any file) with the bearer token (a plain link could not send it). */
export async function downloadCSV(path, params, filename) {
  const blob = await (await send(withParams(path, params), {})).blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/**
 * Follow the hub's Server-Sent Events stream. fetch() rather than EventSource because EventSource
 * cannot send the Authorization header, and a token in the URL would end up in access logs.
 * Reconnects with the last seen id; stops for good when the token is refused. `onStatus` gets
 * "live", "reconnecting", "offline" or "signed out". Returns a function that stops it.
 */
export function followLive(onEvent, onStatus) {
  const ctrl = new AbortController();
  let lastId = null;
  let stopped = false;

  async function once() {
    const extra = lastId != null ? { "Last-Event-ID": String(lastId) } : {};
    const res = await send("/dashboard/api/live", { headers: extra, signal: ctrl.signal });
    if (!res.body) throw new ApiError(0, "no live stream body");
    onStatus("live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const msg = parseBlock(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
        // The hub ends a stream whose token was revoked or expired with this one message.
        if (msg.event === "access-ended") throw new AuthRequired("token revoked or expired");
        if (msg.id != null) lastId = msg.id;
        if (msg.data) onEvent(JSON.parse(msg.data));
      }
    }
  }

  (async () => {
    while (!stopped) {
      let wait = 1000;
      try {
        await once();
      } catch (err) {
        if (stopped) return;
        if (err instanceof AuthRequired) {
          stopped = true;
          onStatus("signed out");
          if (getToken()) onSignedOut(err);
          return;
        }
        if (err.retryAt) wait = Math.max(1000, err.retryAt - Date.now());
      }
      onStatus("reconnecting");
      await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return () => {
    if (!stopped) onStatus("offline");
    stopped = true;
    ctrl.abort();
  };
}

function parseBlock(block) {
  const msg = { id: null, event: null, data: "" };
  for (const line of block.split("\n")) {
    if (line.startsWith("id:")) msg.id = line.slice(3).trim();
    else if (line.startsWith("event:")) msg.event = line.slice(6).trim();
    else if (line.startsWith("data:")) msg.data += line.slice(5).trim();
  }
  return msg;
}
