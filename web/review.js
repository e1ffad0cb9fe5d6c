// The approver's review page (/review): draw a plot on the map (or upload a
// GeoJSON), fill in the applicant and application, POST /api/reviews, and
// show the verdict: outcome, every rule with its numbers, the conflicting
// features highlighted on the map, a link to the printable report.
import {
  setupSignIn, loadCatalog, loadFonts, loadStyle, createMap, Highlighter, api, auth, url,
  unionBounds, escapeHtml, banner,
} from './common.js';

const app = { loaded: false, vertices: [], plot: null, verdict: null };
window.tudi = app;

const $ = (id) => document.getElementById(id);
const EMPTY = { type: 'FeatureCollection', features: [] };
const OUTCOME = { pass: '通过 pass', fail: '不通过 fail', manual: '人工复核 manual review' };

function plotStatus(text) {
  $('plot-status').textContent = text;
}

/** The drawn/uploaded plot and its vertices on the map. */
function showPlot(map) {
  const feats = [];
  if (app.plot) feats.push({ type: 'Feature', properties: {}, geometry: app.plot });
  const ring = app.vertices;
  if (!app.plot && ring.length >= 2) {
    feats.push({ type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: ring } });
  }
  for (const v of ring) feats.push({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: v } });
  map.getSource('plot').setData({ type: 'FeatureCollection', features: feats });
  $('submit').disabled = !app.plot;
}

function setDrawing(map, on) {
  app.drawing = on;
  map.getCanvasContainer().parentElement.classList.toggle('drawing', on);
  if (on) map.doubleClickZoom.disable(); else map.doubleClickZoom.enable();
  $('draw').disabled = on;
  $('finish').disabled = !on;
  $('undo').disabled = !on;
}

function finish(map) {
  if (app.vertices.length < 3) {
    plotStatus('至少需要 3 个点 — at least 3 corners are needed.');
    return;
  }
  const ring = [...app.vertices, app.vertices[0]];
  app.plot = { type: 'Polygon', coordinates: [ring] };
  $('crs').value = '';
  setDrawing(map, false);
  plotStatus(`已绘制 ${app.vertices.length} 个角点的地块 — plot drawn with ${app.vertices.length} corners.`);
  showPlot(map);
}

function clearAll(map) {
  app.vertices = [];
  app.plot = null;
  setDrawing(map, false);
  map.getSource('conflicts').setData(EMPTY);
  app.hl.set([]);
  $('verdict').innerHTML = '';
  plotStatus('尚无地块 no plot yet');
  showPlot(map);
}

function coordsOf(geom) {
  if (geom.type === 'Polygon') return geom.coordinates.flat();
  if (geom.type === 'MultiPolygon') return geom.coordinates.flat(2);
  return [];
}

function fitTo(map, geoms) {
  const pts = geoms.flatMap(coordsOf);
  if (!pts.length) return;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]],
    { padding: 80, maxZoom: 18, duration: 0 });
}

/** Reads an uploaded GeoJSON: the first (Multi)Polygon; its properties fill the form. */
async function upload(map, file) {
  let doc;
  try {
    doc = JSON.parse(await file.text());
  } catch (err) {
    plotStatus(`不是 JSON — not JSON: ${err.message}`);
    return;
  }
  const feature = doc.type === 'FeatureCollection' ? (doc.features || []).find((f) => f.geometry && /Polygon$/.test(f.geometry.type))
    : doc.type === 'Feature' ? doc : { geometry: doc, properties: {} };
  if (!feature || !feature.geometry || !/Polygon$/.test(feature.geometry.type)) {
    plotStatus('文件中没有多边形 — no Polygon or MultiPolygon in the file.');
    return;
  }
  app.vertices = [];
  app.plot = feature.geometry;
  setDrawing(map, false);
  const p = feature.properties || {};
  if (p.applicant) {
    $('household_id').value = p.applicant.household_id ?? '';
    $('applicant_name').value = p.applicant.name ?? '';
  }
  if (p.application) {
    $('terrain_class').value = p.application.terrain_class ?? 'plain';
    $('floors').value = p.application.floors ?? '';
    $('floor_area_m2').value = p.application.floor_area_m2 ?? '';
    $('replaces_parcel').value = p.application.replaces_parcel ?? '';
  }
  if (typeof p.crs === 'string') $('crs').value = p.crs;
  const lonlat = !$('crs').value;
  plotStatus(`已上传 ${escapeHtml(file.name)} — plot loaded from the file${lonlat ? '' : ` (${$('crs').value}: not previewed on the map)`}.`);
  if (lonlat) {
    showPlot(map);
    fitTo(map, [app.plot]);
  } else {
    map.getSource('plot').setData(EMPTY);
    $('submit').disabled = false;
  }
}

function fmt(v) {
  if (v === null || v === undefined) return '–';
  return typeof v === 'number' ? Number(v.toFixed(3)).toLocaleString() : escapeHtml(v);
}

function unitOf(u) {
  return { m2: 'm²', m: 'm' }[u] ?? (u || '');
}

/** Conflicting features of a finding: every referenced feature that did not pass. */
function offending(finding) {
  return (finding.features || []).filter((f) => f.status !== 'pass');
}

function renderVerdict(map, v) {
  app.verdict = v;
  // Problems first: fail, then manual, then pass (stable within each).
  const rank = { fail: 0, manual: 1, pass: 2 };
  const order = v.findings.map((f, i) => i).sort((a, b) => (rank[v.findings[a].status] ?? 3) - (rank[v.findings[b].status] ?? 3) || a - b);
  const unresolved = v.findings.filter((f) => f.status !== 'pass').map((f) => escapeHtml(f.title));
  const rows = order.map((i) => {
    const f = v.findings[i];
    const feats = offending(f).map((x) => `${escapeHtml(x.layer)}#${escapeHtml(x.id)}`).join(', ');
    return `<tr class="finding" data-i="${i}" data-rule="${escapeHtml(f.rule)}">
      <td>${escapeHtml(f.title)}<div class="msg">${escapeHtml(f.message)}</div>
        ${feats ? `<div class="msg">冲突要素 conflicts: ${feats}</div>` : ''}
        <details class="basis"><summary>依据 basis</summary><div>${escapeHtml(f.basis)}</div></details></td>
      <td class="st ${escapeHtml(f.status)}">${escapeHtml(f.status)}</td>
      <td>${fmt(f.measured)} ${escapeHtml(unitOf(f.unit))}</td>
      <td>${fmt(f.threshold)} ${escapeHtml(unitOf(f.unit))}</td></tr>`;
  }).join('');
  const report = url(`api/reviews/${encodeURIComponent(v.id)}/report`);
  $('verdict').innerHTML = `
    <h2>4. 审查结论 Verdict</h2>
    <div class="outcome ${escapeHtml(v.outcome)}" id="outcome" data-outcome="${escapeHtml(v.outcome)}">${escapeHtml(OUTCOME[v.outcome] || v.outcome)}</div>
    <div class="hint">地块面积 plot area ${fmt(v.plot_area_m2)} m² (${escapeHtml(v.crs)}) · 规则集 rule set ${escapeHtml(v.ruleset ? `${v.ruleset.id} ${v.ruleset.version}` : '')}
      · 编号 id <code>${escapeHtml(v.id)}</code></div>
    <div class="summary-line">${unresolved.length ? `需处理 to resolve: ${unresolved.join('；')}` : '全部规则通过 every rule passed'}</div>
    <p><a id="report-link" href="${escapeHtml(report)}" target="_blank" rel="noopener">打印审查报告 Printable report</a></p>
    <table class="findings"><thead><tr><th>规则 rule</th><th>结果 status</th><th>实测 measured</th><th>限值 threshold</th></tr></thead>
    <tbody>${rows}</tbody></table>
    <p class="hint">点击规则在地图上显示其冲突要素 — click a rule to show its conflicts on the map.</p>`;
  $('report-link').addEventListener('click', async (e) => {
    if (!auth.key()) return;
    // The report may need the key: fetch it with the header and open a copy.
    e.preventDefault();
    const r = await api(`api/reviews/${encodeURIComponent(v.id)}/report`);
    if (!r.ok) return;
    const blob = new Blob([await r.text()], { type: 'text/html' });
    window.open(URL.createObjectURL(blob), '_blank', 'noopener');
  });
  for (const tr of $('verdict').querySelectorAll('tr.finding')) {
    tr.addEventListener('click', () => showConflicts(map, [v.findings[Number(tr.dataset.i)]], true));
  }
  showConflicts(map, v.findings, false);
}

/** Draws the conflict geometries and highlights the offending tile features. */
function showConflicts(map, findings, fit) {
  const feats = [];
  for (const f of findings) {
    for (const g of f.conflicts || []) feats.push({ type: 'Feature', properties: { rule: f.rule }, geometry: g });
  }
  map.getSource('conflicts').setData({ type: 'FeatureCollection', features: feats });
  app.hl.set(findings.flatMap(offending));
  const geoms = feats.map((f) => f.geometry);
  if (app.plot && !$('crs').value) geoms.push(app.plot);
  if (fit || geoms.length) fitTo(map, geoms);
}

async function submit(map, e) {
  e.preventDefault();
  if (!app.plot) return;
  const body = {
    plot: app.plot,
    applicant: { household_id: $('household_id').value.trim(), name: $('applicant_name').value.trim() },
    application: {
      terrain_class: $('terrain_class').value,
      floors: Number($('floors').value),
      floor_area_m2: Number($('floor_area_m2').value),
      replaces_parcel: $('replaces_parcel').value.trim() || null,
    },
  };
  if ($('crs').value) body.crs = $('crs').value;
  $('submit').disabled = true;
  $('submit-status').textContent = '审查中 reviewing…';
  try {
    const r = await api('api/reviews', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const out = await r.json().catch(() => ({}));
    if (r.ok) {
      $('submit-status').textContent = '';
      renderVerdict(map, out);
    } else if (r.status === 401 || r.status === 403) {
      $('submit-status').textContent = `HTTP ${r.status}: ${out.message || ''}`;
    } else {
      const problems = (out.problems || []).map((p) => `<li>${escapeHtml(p.message || JSON.stringify(p))}</li>`).join('');
      $('submit-status').innerHTML = `<div class="problems">HTTP ${r.status}: ${escapeHtml(out.message || '')}<ul>${problems}</ul></div>`;
    }
  } catch (err) {
    $('submit-status').textContent = `提交失败 failed: ${err.message}`;
  } finally {
    $('submit').disabled = !app.plot;
  }
}

function addOverlays(map) {
  map.addSource('conflicts', { type: 'geojson', data: EMPTY });
  map.addSource('plot', { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'conflicts-fill', type: 'fill', source: 'conflicts', paint: { 'fill-color': '#d50000', 'fill-opacity': 0.45 } });
  map.addLayer({ id: 'conflicts-line', type: 'line', source: 'conflicts', paint: { 'line-color': '#b71c1c', 'line-width': 2 } });
  map.addLayer({ id: 'plot-fill', type: 'fill', source: 'plot', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': '#1565c0', 'fill-opacity': 0.25 } });
  map.addLayer({ id: 'plot-line', type: 'line', source: 'plot', filter: ['!=', ['geometry-type'], 'Point'], paint: { 'line-color': '#0d47a1', 'line-width': 2.5 } });
  map.addLayer({ id: 'plot-vertex', type: 'circle', source: 'plot', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-color': '#fff', 'circle-radius': 4, 'circle-stroke-color': '#0d47a1', 'circle-stroke-width': 2 } });
}

async function main() {
  setupSignIn($('signin'));
  const catalog = await loadCatalog();
  const fonts = await loadFonts();
  const { style, sourceOf } = await loadStyle('land-review', catalog);
  const geometryOf = Object.fromEntries(catalog.services.map((s) => [s.id, s.geometry_type]));
  const district = catalog.services.find((s) => s.id === 'district_boundary');
  const bounds = (district && district.bounds) || unionBounds(catalog.services);
  const opts = location.hash.length > 1 || !bounds ? {} : { bounds, fitBoundsOptions: { padding: 20 } };
  const map = createMap('map', style, fonts, opts);
  Object.assign(app, { map, catalog });
  app.hl = new Highlighter(map, sourceOf, geometryOf, '#ff1744');
  map.on('load', () => {
    addOverlays(map);
    app.loaded = true;
  });
  map.on('click', (e) => {
    if (!app.drawing) return;
    app.vertices.push([Number(e.lngLat.lng.toFixed(7)), Number(e.lngLat.lat.toFixed(7))]);
    plotStatus(`${app.vertices.length} 个角点 corners`);
    showPlot(map);
  });
  map.on('dblclick', (e) => {
    if (!app.drawing) return;
    e.preventDefault();
    // The double-click's second click added a duplicate corner.
    app.vertices.pop();
    finish(map);
  });
  $('draw').addEventListener('click', () => {
    app.vertices = [];
    app.plot = null;
    showPlot(map);
    setDrawing(map, true);
    plotStatus('在地图上点击角点 — click the corners on the map.');
  });
  $('finish').addEventListener('click', () => finish(map));
  $('undo').addEventListener('click', () => { app.vertices.pop(); showPlot(map); });
  $('clear').addEventListener('click', () => clearAll(map));
  $('upload').addEventListener('change', (e) => { if (e.target.files[0]) upload(map, e.target.files[0]); });
  $('form').addEventListener('submit', (e) => submit(map, e));
  if (!catalog.services.length) banner('目录为空：请登录 — the catalog is empty for you; sign in with an API key.');
}

main().catch((err) => console.error('review page failed:', err));
