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
  const points = cameras.map((c) => [c.lat, c.lon]);
  const baseBounds = baseLayer ? baseLayer.getBounds() : null;
  // The site drawing frames the view when every camera lies on it; otherwise the cameras do.
  const camBounds = points.length ? L.latLngBounds(points) : null;
  const onDrawing = baseBounds && baseBounds.isValid() && (!camBounds || baseBounds.contains(camBounds));
  const bounds = onDrawing ? baseBounds : camBounds && camBounds.pad(0.2);
  if (bounds && bounds.isValid()) map.fitBounds(bounds, { maxZoom: 18 });
  else map.setView([0, 0], 2);
  if (baseLayer) baseLayer.addTo(map);

  // Leaflet measures a permanent tooltip each time its content is set (a forced layout), so each marker
  // gets its label when it is created and a label is set again only when its text changes.
  const markers = new Map();
  const shown = new Map(); // key -> the label on screen
  for (const cam of cameras) {
    const key = `${cam.site}/${cam.camera}`;
    const marker = L.circleMarker([cam.lat, cam.lon], {
      radius: 9, color: "#0b3d91", weight: 2, fillColor: "#2f6fdf", fillOpacity: 0.9,
    }).addTo(map);
    shown.set(key, label(cam, when));
    marker.bindTooltip(shown.get(key), { permanent: true, direction: "right", offset: [10, 0], className: "cam-label" });
    marker.on("click", () => onSelect(cam));
    markers.set(key, marker);
  }

  function update(list, range = when) {
    for (const cam of list) {
      const key = `${cam.site}/${cam.camera}`;
      const marker = markers.get(key);
      if (!marker) continue;
      const text = label(cam, range);
      if (shown.get(key) !== text) marker.setTooltipContent(text);
      shown.set(key, text);
      marker.getElement()?.setAttribute("data-camera", key);
    }
  }
  // The markers are drawn on a canvas, out of reach of the keyboard: the overview lists each camera as a
  // link under the map instead.
  update(cameras);
  return { map, update, destroy: () => map.remove() };
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
