// The camera map: the site's own GeoJSON base map (no tiles are needed) and, only if an operator
// configured one, a tile layer underneath.
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import { fmt } from "./util.js";

const BASEMAP_STYLE = {
  building: { color: "#9a9a9a", weight: 1, fillColor: "#d9d4cc", fillOpacity: 1 },
  plaza: { color: "#c9c0a8", weight: 1, fillColor: "#f1ead6", fillOpacity: 1 },
  park: { color: "#9cc59a", weight: 1, fillColor: "#cfe8c8", fillOpacity: 1 },
  water: { color: "#8fb8de", weight: 1, fillColor: "#bcd8f0", fillOpacity: 1 },
  street: { color: "#ffffff", weight: 9, opacity: 1 },
  cycleway: { color: "#e9a4a4", weight: 3, opacity: 1 },
  footway: { color: "#c2b59b", weight: 2, dashArray: "4 3", opacity: 1 },
};

/** Markers closer than this on screen (px) are drawn as one. */
const GROUP_PX = 40;
const MAX_ZOOM = 18;

function baseStyle(feature) {
  return BASEMAP_STYLE[feature.properties?.kind] || { color: "#bbb", weight: 1 };
}

/** The tooltip beside a camera's marker: its name and its crossings in the range. */
function label(cam, when) {
  return `<b>${escapeHtml(cam.name)}</b><br>${fmt.format(cam.total)} · ${escapeHtml(when)}`;
}

export function cameraMap(container, cameras, { config, basemap }, onSelect, when = "last 24 hours") {
  const map = L.map(container, { zoomSnap: 0.25, attributionControl: true, preferCanvas: true });
  map.getContainer().style.background = "#ecebe7";
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "", maxZoom: 20 }).addTo(map);
  }
  // Leaflet cannot draw vectors before the map has a view: build the layers, fit, then add them.
  let baseLayer = null;
  if (basemap) {
    baseLayer = L.geoJSON(basemap, { style: baseStyle, interactive: false });
    if (config.basemap_attribution) map.attributionControl.addAttribution(config.basemap_attribution);
  }
  const placed = cameras.filter((c) => c.lat != null && c.lon != null); // the others are in the list only
  const points = placed.map((c) => [c.lat, c.lon]);
  const baseBounds = baseLayer ? baseLayer.getBounds() : null;
  // The site drawing frames the view when every camera lies on it; otherwise the cameras do.
  const camBounds = points.length ? L.latLngBounds(points) : null;
  const onDrawing = baseBounds && baseBounds.isValid() && (!camBounds || baseBounds.contains(camBounds));
  const bounds = onDrawing ? baseBounds : camBounds && camBounds.pad(0.2);
  if (bounds && bounds.isValid()) map.fitBounds(bounds, { maxZoom: MAX_ZOOM });
  else map.setView([0, 0], 2);
  if (baseLayer) baseLayer.addTo(map);

  // Markers closer on screen than GROUP_PX are one marker, "N cameras", whose click zooms in on them: the
  // cameras of one junction, or a city's cameras on a map that also shows another city's, would otherwise
  // lie under one another's labels. Leaflet measures a permanent tooltip each time its content is set (a
  // forced layout), so a label is set again only when its text changes.
  const latest = new Map(placed.map((c) => [`${c.site}/${c.camera}`, c])); // key -> the camera's figures
  const drawn = new Map(); // group id -> { marker, text, keys }
  let range = when;

  function groups() {
    const found = [];
    for (const [key, cam] of latest) {
      const at = map.latLngToContainerPoint([cam.lat, cam.lon]);
      const near = found.find((g) => g.at.distanceTo(at) < GROUP_PX);
      if (near) near.keys.push(key);
      else found.push({ at, keys: [key] });
    }
    return found.map((g) => ({ id: g.keys.join(" "), keys: g.keys }));
  }

  function groupLabel(keys) {
    if (keys.length === 1) return label(latest.get(keys[0]), range);
    const total = keys.reduce((sum, k) => sum + (latest.get(k).total || 0), 0);
    return `<b>${keys.length} cameras</b><br>${fmt.format(total)} · ${escapeHtml(range)}`;
  }

  function draw() {
    const wanted = groups();
    const ids = new Set(wanted.map((g) => g.id));
    for (const [id, shown] of drawn) {
      if (!ids.has(id)) {
        shown.marker.remove();
        drawn.delete(id);
      }
    }
    for (const { id, keys } of wanted) {
      const text = groupLabel(keys);
      const shown = drawn.get(id);
      if (shown) {
        if (shown.text !== text) shown.marker.setTooltipContent(text);
        shown.text = text;
        continue;
      }
      const cams = keys.map((k) => latest.get(k));
      const centre = L.latLngBounds(cams.map((c) => [c.lat, c.lon])).getCenter();
      const marker = L.circleMarker(centre, {
        radius: keys.length === 1 ? 9 : 12, color: "#0b3d91", weight: 2, fillColor: "#2f6fdf", fillOpacity: 0.9,
      }).addTo(map);
      const tip = { permanent: true, direction: "right", offset: [10, 0], className: "cam-label", interactive: true };
      marker.bindTooltip(text, tip);
      const select = () => {
        if (keys.length === 1) return onSelect(cams[0]);
        const bounds = L.latLngBounds(cams.map((c) => [c.lat, c.lon]));
        // Cameras on one mast stay together however far the map zooms in: list them there instead.
        if (map.getZoom() < MAX_ZOOM && !bounds.getNorthEast().equals(bounds.getSouthWest())) {
          return map.fitBounds(bounds.pad(0.5), { maxZoom: MAX_ZOOM });
        }
        const figures = keys.map((k) => latest.get(k)); // as of the last refresh, not of this marker's drawing
        L.popup({ className: "cam-list" }).setLatLng(centre).setContent(cameraLinks(figures)).openOn(map);
      };
      marker.on("click", select);
      marker.getTooltip().on("click", select);
      marker.getTooltip().getElement()?.setAttribute("data-cameras", keys.join(" "));
      drawn.set(id, { marker, text, keys });
    }
  }

  function update(list, newRange = when) {
    range = newRange;
    for (const cam of list) {
      const key = `${cam.site}/${cam.camera}`;
      if (latest.has(key)) latest.set(key, cam);
    }
    draw();
  }
  map.on("zoomend", draw);
  // The markers are drawn on a canvas, out of reach of the keyboard: the overview lists each camera as a
  // link under the map instead.
  draw();
  return { map, update, destroy: () => map.remove() };
}

/** Each camera of a group that cannot be drawn apart, as a link to its page. */
function cameraLinks(cams) {
  const items = cams.map((c) => {
    const href = `#/camera/${encodeURIComponent(c.site)}/${encodeURIComponent(c.camera)}`;
    return `<li><a href="${escapeHtml(href)}">${escapeHtml(c.name)}</a> ${fmt.format(c.total || 0)}</li>`;
  });
  return `<ul>${items.join("")}</ul>`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
