// Shared by the viewer and the review page: the API key (kept in
// sessionStorage, sent as a Bearer token on every request to this server),
// the catalog, the style (the server's land-review style, cut down to the
// layers the caller may see), legends, highlighting and the map itself.
// Everything is loaded from this server: no CDN, no external font.
import * as maplibregl from './vendor/maplibre-gl.mjs';

export { maplibregl };

const KEY = 'tudi.apiKey';

/** URL of a server path, relative to the page (works behind a path prefix). */
export function url(path) {
  return new URL(path, document.baseURI).href;
}

function sameOrigin(u) {
  try {
    return new URL(u, document.baseURI).origin === location.origin;
  } catch {
    return false;
  }
}

export const auth = {
  key: () => sessionStorage.getItem(KEY) || '',
  set: (k) => sessionStorage.setItem(KEY, k.trim()),
  clear: () => sessionStorage.removeItem(KEY),
  /** Authorization header for a request to this server, if signed in. */
  headers(u) {
    const k = auth.key();
    return k && sameOrigin(u) ? { Authorization: `Bearer ${k}` } : {};
  },
};

/** Shows the banner asking for an API key (or any other message). */
export function banner(text) {
  const el = document.getElementById('banner');
  if (!el) return;
  el.textContent = text;
  el.classList.toggle('show', Boolean(text));
}

function needKey(status) {
  banner(status === 403
    ? '权限不足：此操作需要更高的角色 — your API key\'s role does not allow this.'
    : '请使用 API 密钥登录 — sign in with an API key to see this (the server answered 401).');
}

/** fetch() to this server with the API key; 401/403 raise the banner. */
export async function api(path, opts = {}) {
  const u = url(path);
  const headers = { ...(opts.headers || {}), ...auth.headers(u) };
  const resp = await fetch(u, { ...opts, headers });
  if (resp.status === 401 || resp.status === 403) needKey(resp.status);
  return resp;
}

/** MapLibre `transformRequest`: the key on every style/TileJSON/tile/glyph request to us. */
export function transformRequest(u) {
  const headers = auth.headers(u);
  return Object.keys(headers).length ? { url: u, headers } : { url: u };
}

/** The sign-in box in the header: key field, who am I, sign out. */
export function setupSignIn(container) {
  container.innerHTML = `
    <span class="who" id="who"></span>
    <input id="api-key" type="password" autocomplete="off" placeholder="API 密钥 API key">
    <button id="sign-in" type="button">登录 Sign in</button>
    <button id="sign-out" type="button">退出 Sign out</button>`;
  const input = container.querySelector('#api-key');
  const who = container.querySelector('#who');
  const out = container.querySelector('#sign-out');
  const signedIn = Boolean(auth.key());
  input.style.display = signedIn ? 'none' : '';
  container.querySelector('#sign-in').style.display = signedIn ? 'none' : '';
  out.style.display = signedIn ? '' : 'none';
  const submit = () => {
    if (!input.value.trim()) return;
    auth.set(input.value);
    location.reload();
  };
  container.querySelector('#sign-in').addEventListener('click', submit);
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') submit(); });
  out.addEventListener('click', () => { auth.clear(); location.reload(); });
  if (!signedIn) {
    who.textContent = '未登录 anonymous';
    return Promise.resolve(null);
  }
  return fetch(url('api/me'), { headers: auth.headers(url('api/me')) })
    .then(async (r) => {
      if (r.ok) {
        const me = await r.json();
        who.textContent = `角色 role: ${me.role}`;
        return me.role;
      }
      if (r.status === 401) {
        who.textContent = '密钥无效 invalid key';
        needKey(401);
      } else {
        // No access control on this server (yet): the key is kept and sent.
        who.textContent = '已保存密钥 key kept';
      }
      return null;
    })
    .catch(() => null);
}

/** GET /catalog: `{services, categories}`. */
export async function loadCatalog() {
  const r = await api('catalog');
  if (!r.ok) throw new Error(`catalog: HTTP ${r.status}`);
  return r.json();
}

/** GET /fonts: whether the server has CJK glyphs (else the browser draws ideographs). */
export async function loadFonts() {
  try {
    const r = await api('fonts');
    return r.ok ? r.json() : { fonts: [], cjk: false };
  } catch {
    return { fonts: [], cjk: false };
  }
}

const PALETTE = ['#1e88e5', '#8e24aa', '#00897b', '#f4511e', '#6d4c41', '#3949ab', '#c0ca33'];

/** The layer a source layer belongs to: `villages.label` (the label points
 * of a `label_points` layer) belongs to `villages`. */
export function layerOf(sourceLayer) {
  return sourceLayer.replace(/\.label$/, '');
}

function sourceIds(src) {
  const m = /\/tiles\/([^/?#]+)/.exec(src.url || '');
  return m ? decodeURIComponent(m[1]).split(',') : [];
}

/**
 * The server's style, keeping only the layers in `catalog` (a source's
 * TileJSON is rewritten to the ids the caller may see), with every catalog
 * layer that the style lacks added in a plain default look.
 */
export async function loadStyle(name, catalog) {
  const ids = new Set(catalog.services.map((s) => s.id));
  let style;
  const r = await api(`styles/${name}`);
  if (r.ok) {
    style = await r.json();
  } else {
    style = {
      version: 8,
      glyphs: url('fonts/{fontstack}/{range}.pbf'),
      sources: {},
      layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef0f2' } }],
    };
  }
  const sourceOf = {};
  for (const [sid, src] of Object.entries(style.sources)) {
    if (src.type !== 'vector') continue;
    const keep = sourceIds(src).filter((id) => ids.has(id));
    if (!keep.length) {
      delete style.sources[sid];
      continue;
    }
    src.url = src.url.replace(/\/tiles\/[^/?#]+/, `/tiles/${keep.join(',')}`);
    for (const id of keep) sourceOf[id] ??= sid;
  }
  style.layers = style.layers.filter((l) => {
    if (!l.source) return true;
    if (!style.sources[l.source]) return false;
    return !l['source-layer'] || sourceOf[layerOf(l['source-layer'])] === l.source;
  });
  // Catalog layers the style does not draw: one source each, default look.
  let n = 0;
  const firstSymbol = style.layers.findIndex((l) => l.type === 'symbol');
  const extra = [];
  for (const svc of catalog.services) {
    if (sourceOf[svc.id]) continue;
    const sid = `cat-${svc.id}`;
    style.sources[sid] = { type: 'vector', url: url(`tiles/${svc.id}`) };
    sourceOf[svc.id] = sid;
    const color = PALETTE[n++ % PALETTE.length];
    const base = { source: sid, 'source-layer': svc.id };
    if (svc.geometry_type === 'polygon') {
      extra.push({ id: `${svc.id}-fill`, type: 'fill', ...base, paint: { 'fill-color': color, 'fill-opacity': 0.25 } });
      extra.push({ id: `${svc.id}-line`, type: 'line', ...base, paint: { 'line-color': color, 'line-width': 1.2 } });
    } else if (svc.geometry_type === 'line') {
      extra.push({ id: `${svc.id}-line`, type: 'line', ...base, paint: { 'line-color': color, 'line-width': 1.5 } });
    } else {
      extra.push({ id: `${svc.id}-circle`, type: 'circle', ...base, paint: { 'circle-color': color, 'circle-radius': 3 } });
    }
  }
  style.layers.splice(firstSymbol < 0 ? style.layers.length : firstSymbol, 0, ...extra);
  return { style, sourceOf };
}

function firstColor(v) {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    for (const x of v.slice(1)) {
      const c = firstColor(x);
      if (c && !/^[a-z_-]+$/.test(c)) return c;
    }
  }
  return null;
}

/** A short label for a simple filter such as `["==", ["get", "zone"], "protection"]`. */
function filterLabel(f) {
  if (!Array.isArray(f) || f.length !== 3 || typeof f[2] !== 'string') return '';
  return f[0] === '!=' ? `≠ ${f[2]}` : f[0] === '==' ? f[2] : '';
}

/** Legend entries `{label, color, kind}` of one source layer, read off the style's paint. */
export function legendFor(style, sourceLayer) {
  const items = [];
  const seen = new Set();
  const push = (label, color, kind) => {
    const k = `${label}|${kind}`;
    if (color && !seen.has(k)) {
      seen.add(k);
      items.push({ label, color, kind });
    }
  };
  for (const l of style.layers) {
    if (l['source-layer'] !== sourceLayer || l.type === 'symbol' || /casing|hatch|ticks/.test(l.id)) continue;
    const kind = l.type === 'fill' ? 'fill' : l.type === 'circle' ? 'circle' : 'line';
    const prop = l.paint && l.paint[`${l.type}-color`];
    if (Array.isArray(prop) && prop[0] === 'match') {
      for (let i = 2; i + 1 < prop.length; i += 2) {
        const labels = Array.isArray(prop[i]) ? prop[i] : [prop[i]];
        push(labels.join('/'), prop[i + 1], kind);
      }
    } else if (Array.isArray(prop) && prop[0] === 'step') {
      push(`< ${prop[3]}`, prop[2], kind);
      for (let i = 3; i + 1 < prop.length; i += 2) push(`≥ ${prop[i]}`, prop[i + 1], kind);
    } else if (kind === 'fill' || items.length === 0) {
      push(filterLabel(l.filter), firstColor(prop), kind);
    }
  }
  return items;
}

/** Renders legend items into an element. */
export function renderLegend(el, items) {
  el.innerHTML = '';
  for (const it of items.slice(0, 10)) {
    const span = document.createElement('span');
    span.className = 'item';
    const sw = document.createElement('i');
    sw.className = `sw ${it.kind}`;
    sw.style.background = it.color;
    span.append(sw, document.createTextNode(it.label));
    el.append(span);
  }
}

/**
 * Highlights features of the vector-tile layers by id (review conflicts,
 * the inspected feature): a line/fill/circle layer per source layer,
 * filtered on the MVT feature id.
 */
export class Highlighter {
  constructor(map, sourceOf, geometryOf, color = '#00e5ff') {
    this.map = map;
    this.sourceOf = sourceOf;
    this.geometryOf = geometryOf;
    this.color = color;
    this.prefix = `hl-${color.replace('#', '')}`;
    this.layers = new Set();
  }

  /** `features`: `[{layer, id}]`; replaces the previous highlight. */
  set(features) {
    const byLayer = {};
    for (const f of features) (byLayer[f.layer] ??= []).push(Number(f.id));
    for (const lid of this.layers) this.map.setFilter(lid, ['in', ['id'], ['literal', []]]);
    for (const [layer, ids] of Object.entries(byLayer)) {
      const source = this.sourceOf[layer];
      if (!source) continue;
      const filter = ['in', ['id'], ['literal', ids]];
      const geom = this.geometryOf[layer] || 'polygon';
      const defs = geom === 'point'
        ? [['circle', { 'circle-color': this.color, 'circle-radius': 7, 'circle-opacity': 0.8, 'circle-stroke-color': '#000', 'circle-stroke-width': 1 }]]
        : geom === 'line'
          ? [['line', { 'line-color': this.color, 'line-width': 6, 'line-opacity': 0.85 }]]
          : [['fill', { 'fill-color': this.color, 'fill-opacity': 0.35 }], ['line', { 'line-color': this.color, 'line-width': 3 }]];
      for (const [type, paint] of defs) {
        const id = `${this.prefix}-${type}-${layer}`;
        if (!this.map.getLayer(id)) {
          this.map.addLayer({ id, type, source, 'source-layer': layer, paint, filter });
          this.layers.add(id);
        } else {
          this.map.setFilter(id, filter);
        }
      }
    }
  }

  isOwn(layerId) {
    return layerId.startsWith('hl-');
  }
}

/** The map over the style; CJK glyphs from the server when it has a CJK font. */
export function createMap(container, style, fonts, extra = {}) {
  const map = new maplibregl.Map({
    container,
    style,
    transformRequest,
    // Server-generated glyphs for every script when the server has a CJK
    // font; otherwise the browser's own fonts draw the ideographs.
    localIdeographFontFamily: fonts.cjk ? false : '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif',
    attributionControl: { compact: true, customAttribution: 'tudi 土地 · synthetic Nanhai data' },
    hash: true,
    ...extra,
  });
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  map.on('error', (e) => {
    const status = e.error && e.error.status;
    if (status === 401 || status === 403) {
      needKey(status);
      return;
    }
    console.error('map error:', e.error ? e.error.message || e.error : e);
  });
  return map;
}

/** Bounds `[w, s, e, n]` of the union of the services' bounds. */
export function unionBounds(services) {
  const b = [180, 90, -180, -90];
  for (const s of services) {
    if (!s.bounds) continue;
    b[0] = Math.min(b[0], s.bounds[0]);
    b[1] = Math.min(b[1], s.bounds[1]);
    b[2] = Math.max(b[2], s.bounds[2]);
    b[3] = Math.max(b[3], s.bounds[3]);
  }
  return b[0] <= b[2] ? b : null;
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
