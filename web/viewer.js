// The viewer (/): the catalog by category with toggles, version, legend and
// zoom-to-layer; the land-review style over the district boundary; a
// feature inspector (click -> the attributes the tiles carry for the
// caller's role).
import {
  setupSignIn, loadCatalog, loadFonts, loadStyle, createMap, legendFor, renderLegend,
  Highlighter, api, unionBounds, escapeHtml, banner, layerOf,
} from './common.js';

/** Always drawn, so the map is never blank. */
const BASE = 'district_boundary';

// For tests and the console: `window.tudi.map`, `.catalog`, `.loaded`.
const app = { loaded: false };
window.tudi = app;

function status(text) {
  document.getElementById('status').textContent = text;
}

function styleLayersOf(map, sourceLayer) {
  return map.getStyle().layers.filter((l) => l['source-layer'] && layerOf(l['source-layer']) === sourceLayer
    && !l.id.startsWith('hl-'));
}

/** Shows or hides every style layer drawing `id`. */
function setVisible(map, id, on) {
  for (const l of styleLayersOf(map, id)) {
    map.setLayoutProperty(l.id, 'visibility', on ? 'visible' : 'none');
  }
}

async function zoomTo(map, svc) {
  const r = await api(`tiles/${encodeURIComponent(svc.id)}`);
  if (!r.ok) {
    status(`${svc.id}: TileJSON HTTP ${r.status}`);
    return;
  }
  const tj = await r.json();
  const b = tj.bounds || svc.bounds;
  if (!b) return;
  map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 30, maxZoom: 16, duration: 0 });
  const minzoom = tj.minzoom ?? svc.minzoom ?? 0;
  if (map.getZoom() < minzoom) map.jumpTo({ zoom: minzoom });
}

function renderCatalog(map, catalog, style) {
  const root = document.getElementById('catalog');
  root.innerHTML = '';
  const order = catalog.categories.map((c) => c.name);
  for (const s of catalog.services) if (!order.includes(s.category)) order.push(s.category);
  for (const cat of order) {
    const services = catalog.services.filter((s) => s.category === cat);
    if (!services.length) continue;
    const det = document.createElement('details');
    det.className = 'cat';
    det.open = true;
    det.innerHTML = `<summary>${escapeHtml(cat)} <span class="hint">(${services.length})</span></summary>`;
    for (const svc of services) {
      const base = svc.id === BASE;
      const div = document.createElement('div');
      div.className = 'layer';
      div.dataset.layer = svc.id;
      const restricted = svc.access && svc.access !== 'public';
      div.innerHTML = `
        <div class="row">
          <input type="checkbox" id="chk-${svc.id}" checked ${base ? 'disabled title="底图 base map"' : ''}>
          <label for="chk-${svc.id}">${escapeHtml(svc.title)}</label>
          <span class="badge" title="version ${escapeHtml(svc.version_tag || '')}">v${escapeHtml(svc.version)}</span>
          ${restricted ? '<span class="badge restricted">受限 restricted</span>' : ''}
          <button class="zoom" type="button" title="缩放至图层 zoom to layer">⤢</button>
        </div>
        <div class="meta">${escapeHtml(svc.id)} · ${Number(svc.features).toLocaleString()} 要素 features · ${escapeHtml(svc.geometry_type)}
          · z${svc.minzoom}–${svc.maxzoom}${base ? ' · 底图 base' : ''}</div>
        <div class="legend"></div>`;
      renderLegend(div.querySelector('.legend'), legendFor(style, svc.id));
      div.querySelector('input').addEventListener('change', (e) => setVisible(map, svc.id, e.target.checked));
      div.querySelector('.zoom').addEventListener('click', () => zoomTo(map, svc));
      det.append(div);
    }
    root.append(det);
  }
}

function inspect(map, byId, hl, e) {
  const box = [[e.point.x - 2, e.point.y - 2], [e.point.x + 2, e.point.y + 2]];
  const seen = new Set();
  const feats = [];
  for (const f of map.queryRenderedFeatures(box)) {
    if (!f.sourceLayer || f.layer.id.startsWith('hl-')) continue;
    const key = `${f.sourceLayer}#${f.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    feats.push(f);
  }
  const out = document.getElementById('inspector');
  document.getElementById('inspector-panel').hidden = false;
  if (!feats.length) {
    out.innerHTML = '<p class="hint">此处无要素 — no feature here.</p>';
    hl.set([]);
    return;
  }
  out.innerHTML = '';
  for (const f of feats.slice(0, 12)) {
    const svc = byId[f.sourceLayer];
    const rows = Object.entries(f.properties)
      .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join('');
    const div = document.createElement('div');
    div.className = 'feature';
    div.innerHTML = `<div class="title">${escapeHtml(svc ? svc.title : f.sourceLayer)}
        <span class="hint">${escapeHtml(f.sourceLayer)} #${escapeHtml(f.id ?? '–')}</span></div>
      <table class="props">${rows || '<tr><td colspan="2" class="hint">无属性 no attributes</td></tr>'}</table>`;
    out.append(div);
  }
  hl.set([{ layer: feats[0].sourceLayer, id: feats[0].id }]);
}

async function main() {
  setupSignIn(document.getElementById('signin'));
  let catalog;
  try {
    catalog = await loadCatalog();
  } catch (err) {
    status(`目录加载失败 catalog failed: ${err.message}`);
    throw err;
  }
  const fonts = await loadFonts();
  const { style, sourceOf } = await loadStyle('land-review', catalog);
  const byId = Object.fromEntries(catalog.services.map((s) => [s.id, s]));
  const geometryOf = Object.fromEntries(catalog.services.map((s) => [s.id, s.geometry_type]));
  const bounds = (byId[BASE] && byId[BASE].bounds) || unionBounds(catalog.services);
  const opts = location.hash.length > 1 || !bounds ? {} : { bounds, fitBoundsOptions: { padding: 20 } };
  const map = createMap('map', style, fonts, opts);
  Object.assign(app, { map, catalog, style, sourceOf, fonts });
  renderCatalog(map, catalog, style);
  const hl = new Highlighter(map, sourceOf, geometryOf, '#ff00ff');
  map.on('click', (e) => inspect(map, byId, hl, e));
  document.getElementById('inspector-close').addEventListener('click', () => {
    document.getElementById('inspector-panel').hidden = true;
    hl.set([]);
  });
  map.on('load', () => {
    app.loaded = true;
    status(`${catalog.services.length} 个图层 layers · ${fonts.cjk ? '服务器字形 server glyphs (CJK)' : '本地中文字体 browser CJK fonts'}`);
  });
  if (!catalog.services.length) banner('目录为空：请登录 — the catalog is empty for you; sign in with an API key.');
}

main().catch((err) => console.error('viewer failed:', err));
