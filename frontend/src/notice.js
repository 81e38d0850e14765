// The one place the dashboard tells the user that something went wrong, and what to do about it.

function box() {
  return document.getElementById("notice");
}

/** Show `text` above the page (`kind`: "error" or "info"); screen readers announce it. */
export function showNotice(text, kind = "error") {
  const node = box();
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = false;
}

export function clearNotice() {
  const node = box();
  node.textContent = "";
  node.hidden = true;
}

/**
 * Run a view's refresh; on failure keep what is on screen, mark it stale and say why and since when.
 * Returns true when the refresh worked. A view the user has left (its root no longer in the page) says
 * nothing either way: the notice is the page's now.
 */
export async function guarded(refresh, root) {
  try {
    await refresh();
    if (!root.isConnected) return false;
    root.classList.remove("stale");
    if (box().dataset.kind !== "info") clearNotice();
    return true;
  } catch (err) {
    if (err.status === 401 || !root.isConnected) return false; // signed out (main.js has said so), or left
    const shown = root.dataset.updated ? ` The page still shows the data of ${root.dataset.updated}.` : "";
    root.classList.add("stale");
    showNotice(`${err.message}${shown}`);
    return false;
  }
}

/**
 * A view's refresh for every trigger (a range or filter chosen, a live event, the timer): guarded, and one
 * run at a time, so that the answer to an earlier choice never lands after, and over, a later one. Calls
 * made while a run is on are folded into one more run after it, which reads the choices then current.
 * The promise settles (true when the last run worked) once the page shows what was chosen at the call.
 */
export function refresher(refresh, root) {
  let running = null;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        let ok;
        do {
          again = false;
          ok = await guarded(refresh, root);
        } while (again && root.isConnected);
        return ok;
      } finally {
        running = null; // at once, with no await before it: a call after the last check starts a new run
      }
    })();
    return running;
  };
}

/** Record that `root` now shows fresh data (the time is quoted if a later refresh fails). */
export function markUpdated(root) {
  root.dataset.updated = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
