// The dashboard's only door to the hub: bearer-token fetches and the live event stream.

const TOKEN_KEY = "citytally.token";

export class AuthRequired extends Error {}

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

export async function getJSON(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") url.searchParams.set(k, v);
  const res = await fetch(url, { headers: headers() });
  if (res.status === 401) throw new AuthRequired("log in");
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res.json();
}

export async function postJSON(path, body = {}) {
  const res = await fetch(path, {
    method: "POST",
    headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status === 401) throw new AuthRequired("log in");
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res.json();
}

/** Download a CSV with the bearer token (a plain link could not send it). */
export async function downloadCSV(path, params, filename) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
  const res = await fetch(url, { headers: headers() });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  const blob = await res.blob();
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
 * Reconnects with the last seen id; returns a function that stops it.
 */
export function followLive(onEvent, onStatus) {
  const ctrl = new AbortController();
  let lastId = null;
  let stopped = false;

  async function once() {
    const h = headers();
    if (lastId != null) h["Last-Event-ID"] = String(lastId);
    const res = await fetch("/dashboard/api/live", { headers: h, signal: ctrl.signal });
    if (!res.ok || !res.body) throw new Error(`live stream: ${res.status}`);
    onStatus("live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const msg = parseBlock(block);
        if (msg.id != null) lastId = msg.id;
        if (msg.data) onEvent(JSON.parse(msg.data));
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (err) {
        if (stopped) return;
      }
      onStatus("reconnecting");
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return () => {
    stopped = true;
    ctrl.abort();
    onStatus("offline");
  };
}

function parseBlock(block) {
  const msg = { id: null, data: "" };
  for (const line of block.split("\n")) {
    if (line.startsWith("id:")) msg.id = line.slice(3).trim();
    else if (line.startsWith("data:")) msg.data += line.slice(5).trim();
  }
  return msg;
}
