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
 * Returns true when the refresh worked.
 */
export async function guarded(refresh, root) {
  try {
    await refresh();
    root.classList.remove("stale");
    if (box().dataset.kind !== "info") clearNotice();
    return true;
  } catch (err) {
    if (err.status === 401) return false; // the tab is signed out; main.js has said so
    const shown = root.dataset.updated ? ` The page still shows the data of ${root.dataset.updated}.` : "";
    root.classList.add("stale");
    showNotice(`${err.message}${shown}`);
    return false;
  }
}

/** Record that `root` now shows fresh data (the time is quoted if a later refresh fails). */
export function markUpdated(root) {
  root.dataset.updated = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
