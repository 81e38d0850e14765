// The overview's requests, apart from its drawing code (and the chart and map libraries that come with
// it): main.js asks for the first paint's data while those scripts are still on their way, so the data
// no longer waits for them to load and start.
import { getJSON } from "./api.js";
import { RANGES } from "./util.js";

export const BASEMAP_URL = "/dashboard/api/basemap.geojson";
/** The range the overview opens with. */
export const FIRST_RANGE = "24h";

export const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A rolling range from the picker's choices (e.g. "24h"), ending now, as the picker itself gives it. */
export function rollingRange(key) {
  const span = RANGES.find(([value]) => value === key)[2];
  const end = new Date();
  return { start: new Date(end - span).toISOString(), end: end.toISOString() };
}

/** The page's map settings and the base-map GeoJSON (null if none), fetched together. */
export async function loadMapInputs() {
  // Both at once: the base map's address is fixed, and a hub without one answers 404.
  const [config, res] = await Promise.all([getJSON("/dashboard/api/config"), fetch(BASEMAP_URL)]);
  const basemap = config.basemap_url && res.ok ? await res.json() : null;
  return { config, basemap };
}

export const cameraList = (range) =>
  getJSON("/dashboard/api/cameras", { since: range.start, until: range.end });
export const statusList = () => getJSON("/dashboard/api/camera-status").catch(() => []); // status is extra
export const overviewData = (range) => getJSON("/dashboard/api/overview", { ...range, tz: localZone() });

/** Everything the first paint needs, asked for at once: [map inputs, cameras, overview, statuses]. */
export function overviewRequests(range) {
  const all = Promise.all([loadMapInputs(), cameraList(range), overviewData(range), statusList()]);
  all.catch(() => {}); // whoever awaits it gets the failure; until then it is not an unhandled rejection
  return all;
}
