// The rsq search page: a form, a land-cover facet tree, a grid of results, a map of their footprints over Natural
// Earth's outlines (no tile server), a detail view.
// Everything from the index (ids, captions) enters the page as text nodes, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("rsq-token");
if (token) sessionStorage.setItem("rsq-token", token);
const state = { info: null, box: null, landCover: null, layers: new Map(), map: null, footprints: null, pending: null };
const SENSORS = { rgb: "RGB", s2: "Sentinel-2", s1: "Sentinel-1", other: "other sensor" };

async function api(path, options = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(path, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((body && (body.error || JSON.stringify(body.detail))) || response.statusText);
  return body;
}

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function status(text) { $("status").textContent = text; }

// The caption with the spans the server says the query matched (`highlight`: [start, end] offsets) marked.
function highlighted(caption, spans) {
  const fragment = document.createDocumentFragment();
  let done = 0;
  for (const [start, end] of spans || []) {
    fragment.append(document.createTextNode(caption.slice(done, start)), element("mark", { textContent: caption.slice(start, end) }));
    done = end;
  }
  fragment.append(document.createTextNode(caption.slice(done)));
  return fragment;
}

// One search at a time: a new one aborts the one in flight, so an older answer never replaces a newer one.
function newRequest() {
  state.pending?.abort();
  state.pending = new AbortController();
  return state.pending.signal;
}

function setupMap() {
  if (!window.L) { $("map").textContent = "The map needs Leaflet: run `make install` (npm) on the server."; $("map-tools").hidden = true; return; }
  const map = L.map("map", { worldCopyJump: true, boxZoom: false }).setView([20, 0], 2);
  if (state.info.basemap) L.tileLayer(state.info.basemap, { maxZoom: 19, attribution: "basemap" }).addTo(map);
  else if (state.info.outlines && window.topojson) drawOutlines(map);
  state.footprints = L.featureGroup().addTo(map);
  state.map = map;
  setupBoxDrawing(map);
}

// The basemap without a tile server: Natural Earth's countries (world-atlas, 1:50m) as filled land, their
// coastlines and borders as lines, in a pane under the footprints.
async function drawOutlines(map) {
  const world = await api("/vendor/world-atlas/countries-50m.json");
  const countries = world.objects.countries;
  map.createPane("outlines").style.zIndex = 250;
  const options = { pane: "outlines", interactive: false };
  const layer = (geojson, style) => L.geoJSON(unwrapped(geojson), { ...options, style }).addTo(map);
  layer(topojson.feature(world, countries), { stroke: false, fillColor: "#fbfaf5", fillOpacity: 1 });
  layer(topojson.mesh(world, countries, (a, b) => a === b), { color: "#7d8a99", weight: 0.8 });
  layer(topojson.mesh(world, countries, (a, b) => a !== b), { color: "#a9b2bd", weight: 0.6, dashArray: "3 3" });
  map.attributionControl.addAttribution("Natural Earth");
  $("map").dataset.outlines = "drawn";
}

// Rings and lines that cross 180° (Russia, Fiji) jump from +180 to -180 and would be drawn across the whole map:
// their longitudes continue past 180 instead. A ring around the pole (Antarctica) spans every longitude: kept.
function unwrapped(geojson) {
  const line = (points) => {
    let shift = 0;
    const out = points.map(([lon, lat], n) => {
      const step = n ? lon - points[n - 1][0] : 0;
      shift += step > 180 ? -360 : step < -180 ? 360 : 0;
      return [lon + shift, lat];
    });
    const lons = out.map(([lon]) => lon);
    return Math.max(...lons) - Math.min(...lons) > 300 ? points : out;
  };
  const walk = (coords, depth) => (depth === 0 ? line(coords) : coords.map((c) => walk(c, depth - 1)));
  const depths = { LineString: 0, MultiLineString: 1, Polygon: 1, MultiPolygon: 2 };
  const geometry = (g) => ({ ...g, coordinates: walk(g.coordinates, depths[g.type]) });
  if (geojson.type === "FeatureCollection") return { ...geojson, features: geojson.features.map((f) => ({ ...f, geometry: geometry(f.geometry) })) };
  return geometry(geojson);
}

// "Draw a box": press, drag and release on the map (pointer events on its container; the map stays still).
function setupBoxDrawing(map) {
  const container = map.getContainer();
  let start = null, rectangle = null;
  const drawing = () => $("draw").getAttribute("aria-pressed") === "true";
  $("draw").addEventListener("click", () => {
    const on = !drawing();
    $("draw").setAttribute("aria-pressed", String(on));
    container.classList.toggle("drawing", on);
    on ? map.dragging.disable() : map.dragging.enable();
  });
  container.addEventListener("pointerdown", (event) => {
    if (!drawing()) return;
    event.preventDefault();
    container.setPointerCapture(event.pointerId);
    start = map.mouseEventToLatLng(event);
    rectangle?.remove();
    rectangle = L.rectangle(L.latLngBounds(start, start), { color: "#d9480f", weight: 2, fill: false }).addTo(map);
  });
  container.addEventListener("pointermove", (event) => { if (start) rectangle.setBounds(L.latLngBounds(start, map.mouseEventToLatLng(event))); });
  container.addEventListener("pointerup", (event) => {
    if (!start) return;
    rectangle.setBounds(L.latLngBounds(start, map.mouseEventToLatLng(event)));
    const bounds = rectangle.getBounds();
    start = null;
    $("draw").click();
    setBox([bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map((v) => Math.round(v * 1e5) / 1e5));
  });
  $("clear-box").addEventListener("click", () => { rectangle?.remove(); rectangle = null; setBox(null); });
}

function setBox(box) {
  if (box) box = [Math.max(-180, box[0]), Math.max(-90, box[1]), Math.min(180, box[2]), Math.min(90, box[3])];
  state.box = box;
  $("box-label").textContent = box ? `box ${box.join(", ")}` : "";
  $("clear-box").hidden = !box;
  if ($("q").value.trim()) search();
}

function searchParams() {
  const params = new URLSearchParams({ q: $("q").value, k: $("k").value || "24", mode: $("mode").value, explain: "true" });
  for (const name of ["sensor", "after", "before"]) if ($(name).value) params.set(name, $(name).value);
  if (state.box) params.set("bbox", state.box.join(","));
  if (state.landCover) params.set("class", state.landCover);
  return params;
}

async function search(event) {
  event?.preventDefault();
  status("searching…");
  const started = performance.now();
  try {
    const collection = await api(`/api/search.geojson?${searchParams()}`, { signal: newRequest() });
    showResults(collection.features, collection.facets);
    const missing = collection.missing_shards?.length ? ` · shards ${collection.missing_shards.join(", ")} did not answer: their tiles are missing` : "";
    status(`${countLine(collection.features)} in ${Math.round(performance.now() - started)} ms${missing}`);
  } catch (error) {
    if (error.name === "AbortError") return;  // a newer search took its place
    showResults([], null);
    status(`error: ${error.message}`);
  }
}

function countLine(features) {
  const nowhere = features.filter((f) => !f.geometry).length;
  return `${features.length} tiles${nowhere ? ` (${nowhere} without a footprint, not on the map)` : ""}`;
}

// The facet tree the server counted over the hits (a class counts every class below it); a click filters by it.
function showFacets(facets) {
  const levels = facets?.land_cover?.levels || [];
  const classes = levels.flatMap((level) => level.classes);
  const branch = (parent) => {
    const children = classes.filter((c) => c.code.length === parent.length + 1 && c.code.startsWith(parent));
    return children.length ? element("ul", {}, ...children.map((c) => element("li", {}, facetButton(c), branch(c.code)))) : "";
  };
  const tree = branch("");
  const unclassified = facets?.land_cover?.unclassified;
  $("facet-tree").replaceChildren(tree || element("div", { className: "unclassified", textContent: "no classes among these hits" }),
    unclassified ? element("div", { className: "unclassified", textContent: `${unclassified} without a class` }) : "");
  $("clear-class").hidden = !state.landCover;
}

function facetButton(node) {
  const button = element("button", { type: "button", className: "node", title: `CORINE ${node.code}` },
    element("span", { textContent: node.name }), element("span", { className: "count", textContent: node.count }));
  button.dataset.code = node.code;
  button.setAttribute("aria-pressed", String(state.landCover === node.code));
  button.addEventListener("click", () => setLandCover(state.landCover === node.code ? null : node.code));
  return button;
}

function setLandCover(code) {
  state.landCover = code;
  if ($("q").value.trim()) search();
}

function showResults(features, facets) {
  showFacets(facets);
  state.layers.clear();
  state.footprints?.clearLayers();
  $("results").replaceChildren(...features.map(card));
  for (const feature of features) {
    if (!feature.geometry || !state.footprints) continue;
    const layer = L.geoJSON(feature, { style: { color: "#2f6fde", weight: 2, fillOpacity: 0.15 },
      pointToLayer: (_, latlng) => L.circleMarker(latlng, { radius: 6 }) });
    layer.bindTooltip(`${feature.properties.rank}. ${feature.id}`);
    layer.on("click", () => { select(feature.id); openTile(feature.id); });
    layer.addTo(state.footprints);
    state.layers.set(feature.id, layer);
  }
  if (state.footprints?.getLayers().length) state.map.fitBounds(state.footprints.getBounds(), { maxZoom: 12, padding: [20, 20] });
}

function card(feature) {
  const hit = feature.properties;
  const ranks = Object.entries(hit.ranks || {}).map(([mode, rank]) => `${mode} ${rank ?? "–"}`).join(", ");
  const thumb = element("img", { className: "thumb", alt: hit.id, loading: "lazy" });
  thumb.addEventListener("error", () => thumb.replaceWith(element("div", { className: "thumb none", textContent: "no image" })), { once: true });
  showImage(thumb, `${tilePath(hit.id)}/thumbnail`);
  const sensor = SENSORS[hit.sensor] || hit.sensor || "unknown sensor";
  const when = hit.time ? String(hit.time).slice(0, 10) : null;
  const node = element("article", { className: "card", tabIndex: 0, title: `ranks per mode: ${ranks}` },
    thumb,
    element("div", { className: "meta" },
      element("div", { className: "head" }, element("span", { className: "id", textContent: `${hit.rank}. ${hit.id}`, title: hit.id }),
        element("span", { className: "score", textContent: hit.score.toFixed(3) })),
      element("div", { className: "facts" }, [sensor, when, hit.land_cover?.at(-1)].filter(Boolean).join(" · "),
        feature.geometry ? "" : element("span", { className: "nowhere", textContent: " · no footprint" })),
      element("div", { className: "caption" }, highlighted(hit.caption || "", hit.highlight))));
  node.dataset.id = hit.id;
  node.dataset.landCover = (hit.land_cover || []).join(" › ");
  node.addEventListener("click", () => { select(hit.id); openTile(hit.id); });
  node.addEventListener("keydown", (event) => { if (event.key === "Enter") openTile(hit.id); });
  node.addEventListener("mouseenter", () => select(hit.id));
  return node;
}

// The whole id encoded (its slashes as %2F): an id may end in "/image" or hold any character.
function tilePath(id) { return `/api/tiles/${encodeURIComponent(id)}`; }

// An image from the API: a plain src, or with a token a fetch that carries the header (an <img> cannot); the
// object URL is revoked once the image has loaded, and a failed fetch shows as the image's own error.
async function showImage(img, url) {
  if (!token) { img.src = url; return; }
  try {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(response.statusText);
    const blob = URL.createObjectURL(await response.blob());
    img.addEventListener("load", () => URL.revokeObjectURL(blob), { once: true });
    img.addEventListener("error", () => URL.revokeObjectURL(blob), { once: true });
    img.src = blob;
  } catch {
    img.dispatchEvent(new Event("error"));
  }
}

function select(id) {
  for (const node of document.querySelectorAll(".card")) node.classList.toggle("selected", node.dataset.id === id);
  for (const [key, layer] of state.layers) layer.setStyle?.({ color: key === id ? "#d9480f" : "#2f6fde", weight: key === id ? 3 : 2 });
}

async function openTile(id) {
  try {
    const tile = await api(tilePath(id));
    $("detail-body").replaceChildren(detail(tile));
    if (!$("detail").open) $("detail").showModal();
  } catch (error) {
    status(`error: ${error.message}`);
  }
}

function detail(tile) {
  const image = element("img", { alt: tile.id });
  image.addEventListener("error", () => image.replaceWith(element("div", { textContent: "no image file for this tile" })), { once: true });
  showImage(image, `${tilePath(tile.id)}/image?size=512`);
  const facts = element("dl", {});
  const path = (tile.land_cover || []).join(" › ");
  for (const [name, value] of [["sensor", SENSORS[tile.sensor] || tile.sensor], ["land-cover class", path], ["time", tile.time], ["centre", tile.lon != null ? `${tile.lon.toFixed(4)}, ${tile.lat.toFixed(4)}` : null],
    ...Object.entries(tile.meta || {})]) {
    if (value != null && value !== "") facts.append(element("dt", { textContent: name }), element("dd", { textContent: typeof value === "object" ? JSON.stringify(value) : value }));
  }
  return element("div", { className: "detail" }, image,
    element("div", { className: "facts" }, element("h2", { textContent: tile.id }), facts, ...tile.captions.map(captionBlock), actions(tile)));
}

function captionBlock(source) {
  const c = source.captions || {};
  const block = element("div", { className: "source" },
    element("div", { className: "provenance", textContent: `${source.model} · ${source.template}` }),
    element("ol", {}, ...(c.variants || []).map((v) => element("li", {}, v.one_sentence, v.caption ? element("div", { textContent: v.caption }) : ""))));
  const shared = (c.land_cover || []).some((l) => l.share > 0);  // labels carry no shares: then names alone
  const lists = [["land cover", (c.land_cover || []).map((l) => shared ? `${l.name} ${Math.round(l.share * 100)}%` : l.name)],
    ["objects", (c.objects || []).map((o) => [o.count, o.colour, o.name].filter(Boolean).join(" "))],
    ["events", (c.events || []).map((e) => [e.kind, e.description].filter(Boolean).join(": "))], ["keywords", c.keywords || []]];
  for (const [name, items] of lists) if (items.length) block.append(element("div", {}, element("b", { textContent: `${name}: ` }), items.join("; ")));
  return block;
}

function actions(tile) {
  const more = element("button", { type: "button", textContent: "More like this" });
  more.addEventListener("click", () => moreLikeThis(tile));
  const text = element("input", { type: "text", placeholder: "like this, but …", disabled: !tile.image_vector });
  const lam = element("input", { type: "range", min: 0, max: 1, step: 0.1, value: 0.5, disabled: !tile.image_vector });
  const value = element("output", { textContent: "0.5" });
  lam.addEventListener("input", () => { value.textContent = Number(lam.value).toFixed(1); });
  const go = element("button", { type: "button", textContent: "Like this, but…", disabled: !tile.image_vector,
    title: tile.image_vector ? "a composed image + text query" : "needs an index with image vectors (rsq index --images)" });
  go.addEventListener("click", () => composed(tile.id, text.value, lam.value));
  const weight = element("label", { title: "λ: the weight of the text against the image (0: the image alone)" }, "λ text weight", lam, value);
  return element("div", { className: "actions" }, more, text, weight, go);
}

async function moreLikeThis(tile) {
  if (tile.image_vector) return composed(tile.id, "", 0);
  const sentence = tile.captions[0]?.captions?.variants?.[0]?.one_sentence;  // no image vectors: search by its caption
  if (!sentence) return;
  $("detail").close();
  $("q").value = sentence;
  search();
}

async function composed(id, text, lam) {
  const form = new FormData();
  form.set("tile_id", id); form.set("text", text); form.set("lam", String(lam)); form.set("k", $("k").value || "24");
  $("detail").close();
  status("searching…");
  try {
    const result = await api("/api/search/composed", { method: "POST", body: form, signal: newRequest() });
    // each hit carries its footprint as the GeoJSON of a search does (split at 180°): no request per hit
    const features = result.hits.map(({ geometry, ...hit }) => ({ type: "Feature", id: hit.id, properties: hit, geometry }));
    showResults(features, result.facets);
    status(`${countLine(features)} like ${id}${text ? `, but ${text}` : ""}`);
  } catch (error) {
    if (error.name !== "AbortError") status(`error: ${error.message}`);
  }
}

async function start() {
  window.addEventListener("unhandledrejection", (event) => status(`error: ${event.reason?.message || event.reason}`));
  $("search").addEventListener("submit", search);
  $("clear-class").addEventListener("click", () => setLandCover(null));
  $("close").addEventListener("click", () => $("detail").close());
  document.addEventListener("keydown", (event) => { if (event.key === "Escape" && $("detail").open) $("detail").close(); });
  try {
    state.info = await api("/api/info");
  } catch (error) {
    status(`error: ${error.message}${token ? "" : " (add #token=… to the address if this server needs one)"}`);
    return;
  }
  $("mode").querySelector("[value=image]").hidden = !state.info.image_encoder;
  status(`${state.info.counts.tiles} tiles indexed with ${state.info.embedder}`);
  setupMap();
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) { $("q").value = initial; search(); }
}

start();
