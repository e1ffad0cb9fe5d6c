// Browser tests of the viewer (/) and the review page (/review) in Debian's
// chromium, driven by playwright-core (no browser download). Run by
// tests/browser/run.sh (and so by .ci/run):
//
//   TUDI_BIN=target/debug/tudi node --test browser.test.mjs
//
// Starts the tudi binary on a free port over the bundled fixtures with a
// temporary --data-dir (and an approver key when `tudi keys` exists), then
// checks what a person would: the map draws styled tiles over a village,
// a layer toggles, the inspector shows attributes, Chinese labels render
// from the server's glyphs, drawn plots are reviewed (fail and pass) with
// the conflict highlighted, an uploaded GeoJSON is reviewed, no console
// errors, and no request leaves localhost. Screenshots go to
// target/browser-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const BIN = path.resolve(ROOT, process.env.TUDI_BIN || 'target/debug/tudi');
const ART = path.join(ROOT, 'target/browser-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // WebGL in software (SwiftShader): what a headless box without a GPU has.
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Labelled applications of the fixtures (src/fixtures/applications.rs). */
const APPS = JSON.parse(fs.readFileSync(path.join(ROOT, 'fixtures/small/applications.geojson'), 'utf8'));
function app(caseName) {
  const f = APPS.features.find((x) => x.properties.label.case === caseName);
  assert.ok(f, `fixture application ${caseName}`);
  return f;
}
function centroid(f) {
  const ring = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
  const pts = ring.slice(0, -1);
  return [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];
}

let server;
let browser;
const requests = [];
const glyphResponses = [];

async function startServer() {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'tudi-browser-'));
  let key = null;
  const help = execFileSync(BIN, ['--help'], { encoding: 'utf8' });
  if (/^\s+keys\s/m.test(help)) {
    const out = execFileSync(BIN, ['keys', 'create', '--role', 'approver', '--data-dir', data], { cwd: ROOT, encoding: 'utf8' });
    key = out.trim().split('\n').pop().trim();
    assert.ok(key.length >= 16, `a key from \`tudi keys create\`: ${out}`);
  }
  const proc = spawn(BIN, ['serve', '--bind', '127.0.0.1:0', '--data-dir', data], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'info,tower_http=warn' },
  });
  const log = fs.createWriteStream(path.join(ART, 'server.log'));
  let buf = '';
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tudi did not start:\n${buf}`)), 120_000);
    proc.stderr.on('data', (d) => {
      log.write(d);
      if (buf.length < 100_000) buf += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`tudi exited with ${code}:\n${buf}`)));
  });
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${base}/health`).catch(() => null);
    if (r && r.ok) break;
    await sleep(200);
  }
  return { proc, base, key, data };
}

async function newContext(key) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tudi-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    locale: 'zh-CN',
  });
  ctx.on('request', (r) => requests.push(r.url()));
  ctx.on('response', (r) => {
    if (r.url().includes('/fonts/')) glyphResponses.push({ url: decodeURIComponent(r.url()), status: r.status() });
  });
  if (key) await ctx.addInitScript((k) => sessionStorage.setItem('tudi.apiKey', k), key);
  return { ctx, dir };
}

/** A page that records its console errors and uncaught exceptions. */
async function openPage(ctx, urlPath) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.errors = errors;
  await page.goto(`${server.base}${urlPath}`);
  await page.waitForFunction(() => window.tudi && window.tudi.loaded, null, { timeout: 90_000 });
  await settle(page);
  return page;
}

/** Waits until the map has loaded every tile and drawn them. */
async function settle(page) {
  await page.evaluate(() => new Promise((resolve) => {
    const m = window.tudi.map;
    const t = setTimeout(resolve, 60_000);
    m.once('idle', () => { clearTimeout(t); resolve(); });
    m.triggerRepaint();
  }));
  await sleep(300);
}

async function shot(page, name, locator = '#map') {
  const file = path.join(ART, name);
  const buf = await page.locator(locator).screenshot({ path: file });
  return PNG.sync.read(buf);
}

/** Pixels not the map background (#eef0f2) nor the district fill (#fbfaf4). */
function nonBackground(png) {
  const bg = [[0xee, 0xf0, 0xf2], [0xfb, 0xfa, 0xf4]];
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
    if (!bg.some(([R, G, B]) => Math.abs(r - R) + Math.abs(g - G) + Math.abs(b - B) < 12)) n++;
  }
  return n;
}

function diffPixels(a, b) {
  assert.equal(a.data.length, b.data.length);
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.abs(a.data[i] - b.data[i]) + Math.abs(a.data[i + 1] - b.data[i + 1]) + Math.abs(a.data[i + 2] - b.data[i + 2]);
    if (d > 40) n++;
  }
  return n;
}

/** Client point of lon/lat on the page (the map's own projection). */
async function pagePoint(page, lonlat) {
  const box = await page.locator('#map').boundingBox();
  const p = await page.evaluate((ll) => window.tudi.map.project(ll), lonlat);
  return { x: box.x + p.x, y: box.y + p.y };
}

let anon;
let authed;

before(async () => {
  fs.mkdirSync(ART, { recursive: true });
  assert.ok(fs.existsSync(BIN), `tudi binary ${BIN} (build it first)`);
  server = await startServer();
  console.log(`# tudi at ${server.base}; ${server.key ? 'approver key created' : 'no `tudi keys`: running without a key'}`);
  browser = true;
  anon = await newContext(null);
  authed = server.key ? await newContext(server.key) : anon;
});

after(async () => {
  for (const c of new Set([anon, authed])) {
    if (c) {
      await c.ctx.close();
      fs.rmSync(c.dir, { recursive: true, force: true });
    }
  }
  if (server) {
    server.proc.kill('SIGTERM');
    await sleep(300);
    fs.rmSync(server.data, { recursive: true, force: true });
  }
});

// A village with parcels (a labelled application lies in it).
const VILLAGE = centroid(app('zoning-restricted-01'));
// A parcel seen on the z16 view, for the inspector.
let PARCEL = null;

test('viewer: anonymous visit loads with no console errors', async () => {
  const page = await openPage(anon.ctx, `/#13/${VILLAGE[1]}/${VILLAGE[0]}`);
  const layers = await page.locator('#catalog .layer').count();
  assert.ok(layers >= 10, `catalog lists layers (${layers})`);
  await shot(page, 'viewer-anonymous.png', 'body');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('viewer: styled tiles over a village at z16, toggling parcels changes pixels', async () => {
  const page = await openPage(authed.ctx, `/#16/${VILLAGE[1]}/${VILLAGE[0]}`);
  const counts = await page.evaluate(() => {
    const m = window.tudi.map;
    const n = (id) => (m.getLayer(id) ? m.queryRenderedFeatures({ layers: [id] }).length : -1);
    return { parcels: n('parcels-fill'), roads: n('roads-line'), village: n('village-boundary-line') };
  });
  assert.ok(counts.parcels > 10, `parcels rendered: ${JSON.stringify(counts)}`);
  PARCEL = await page.evaluate(() => {
    const f = window.tudi.map.queryRenderedFeatures({ layers: ['parcels-fill'] })
      .find((x) => x.geometry.type === 'Polygon');
    const ring = f.geometry.coordinates[0].slice(0, -1);
    return [ring.reduce((s, p) => s + p[0], 0) / ring.length, ring.reduce((s, p) => s + p[1], 0) / ring.length];
  });
  const before = await shot(page, 'viewer-village-z16.png');
  const total = before.width * before.height;
  const fg = nonBackground(before);
  assert.ok(fg > total * 0.05, `non-background pixels ${fg} of ${total}`);
  await shot(page, 'viewer-village-z16-page.png', 'body');

  await page.locator('#chk-homestead_parcels').uncheck();
  await settle(page);
  const without = await shot(page, 'viewer-village-z16-no-parcels.png');
  const changed = diffPixels(before, without);
  assert.ok(changed > total * 0.01, `toggling parcels changed ${changed} pixels`);
  assert.equal(await page.evaluate(() => window.tudi.map.getLayoutProperty('parcels-fill', 'visibility')), 'none');
  await page.locator('#chk-homestead_parcels').check();
  await settle(page);
  const again = await shot(page, 'viewer-village-z16-again.png');
  assert.ok(diffPixels(before, again) < changed / 4, 'parcels back after re-checking');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('viewer: clicking a parcel shows its attributes; zoom to layer', async () => {
  assert.ok(PARCEL, 'a parcel was found on the z16 view');
  const page = await openPage(authed.ctx, `/#18/${PARCEL[1]}/${PARCEL[0]}`);
  const target = await page.evaluate(() => {
    const m = window.tudi.map;
    const f = m.queryRenderedFeatures({ layers: ['parcels-fill'] })
      .find((x) => x.geometry.type === 'Polygon');
    if (!f) return null;
    const ring = f.geometry.coordinates[0].slice(0, -1);
    const c = [ring.reduce((s, p) => s + p[0], 0) / ring.length, ring.reduce((s, p) => s + p[1], 0) / ring.length];
    return { c, id: f.id };
  });
  assert.ok(target, 'a parcel on screen');
  const pt = await pagePoint(page, target.c);
  await page.mouse.click(pt.x, pt.y);
  await page.waitForSelector('#inspector .feature');
  const text = await page.locator('#inspector').innerText();
  assert.match(text, /zddm/);
  assert.match(text, /homestead_parcels #\d+/);
  await shot(page, 'viewer-inspector.png', 'body');

  // Zoom to layer fetches the TileJSON, then fits its bounds (the whole
  // district's heritage sites: far out from z18).
  await page.locator('.layer[data-layer="heritage"] .zoom').click();
  await page.waitForFunction(() => window.tudi.map.getZoom() < 15, null, { timeout: 15_000 });
  const bounds = await page.evaluate(() => window.tudi.map.getBounds().toArray());
  const heritage = await (await fetch(`${server.base}/tiles/heritage`)).json();
  const [w, s, e, n] = heritage.bounds;
  assert.ok(bounds[0][0] <= w && bounds[0][1] <= s && bounds[1][0] >= e && bounds[1][1] >= n,
    `the view ${JSON.stringify(bounds)} holds the TileJSON bounds ${heritage.bounds}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('viewer: Chinese labels render from server glyphs', async () => {
  const page = await openPage(authed.ctx, `/#13.5/${VILLAGE[1]}/${VILLAGE[0]}`);
  const labelled = await shot(page, 'viewer-labels-z13.png');
  const names = await page.evaluate(() => window.tudi.map.queryRenderedFeatures({ layers: ['villages-label'] })
    .map((f) => f.properties.name));
  assert.ok(names.some((n) => /[\u4e00-\u9fff]/.test(n)), `village labels on screen: ${names}`);
  await page.evaluate(() => {
    const m = window.tudi.map;
    for (const l of m.getStyle().layers) if (l.type === 'symbol') m.setLayoutProperty(l.id, 'visibility', 'none');
  });
  await settle(page);
  const plain = await shot(page, 'viewer-labels-z13-hidden.png');
  const changed = diffPixels(labelled, plain);
  assert.ok(changed > 400, `labels drew ${changed} pixels`);
  const cjk = glyphResponses.filter((r) => {
    const m = /\/fonts\/[^/]+\/(\d+)-\d+\.pbf/.exec(r.url);
    return m && Number(m[1]) >= 0x4e00 && Number(m[1]) < 0xa000;
  });
  assert.ok(cjk.length > 0, 'CJK glyph ranges were fetched from the server');
  assert.ok(cjk.every((r) => r.status === 200), JSON.stringify(cjk.filter((r) => r.status !== 200)));
  assert.deepEqual(page.errors, []);
  await page.close();
});

/** Draws the application's plot by clicking its corners, fills the form, submits. */
async function drawAndReview(page, feature) {
  const ring = feature.geometry.coordinates[0].slice(0, -1);
  const p = feature.properties;
  await page.fill('#household_id', p.applicant.household_id);
  await page.fill('#applicant_name', p.applicant.name);
  await page.selectOption('#terrain_class', p.application.terrain_class);
  await page.fill('#floors', String(p.application.floors));
  await page.fill('#floor_area_m2', String(p.application.floor_area_m2));
  await page.fill('#replaces_parcel', p.application.replaces_parcel || '');
  await page.click('#draw');
  for (const v of ring) {
    const pt = await pagePoint(page, v);
    await page.mouse.click(pt.x, pt.y);
  }
  await page.click('#finish');
  assert.equal(await page.evaluate(() => window.tudi.plot.coordinates[0].length), ring.length + 1);
  await page.click('#submit');
  await page.waitForSelector('#outcome', { timeout: 30_000 });
  await settle(page);
  return page.locator('#outcome').getAttribute('data-outcome');
}

test('review: a drawn plot on farmland fails and the farmland is highlighted', async () => {
  const f = app('farmland-01');
  const c = centroid(f);
  const page = await openPage(authed.ctx, `/review#20/${c[1]}/${c[0]}`);
  assert.equal(await drawAndReview(page, f), 'fail');
  const row = page.locator('tr.finding[data-rule="farmland"] td.st');
  assert.equal((await row.innerText()).trim(), 'fail');
  const hl = await page.evaluate(() => {
    const m = window.tudi.map;
    const id = 'hl-ff1744-fill-farmland';
    return m.getLayer(id) ? m.queryRenderedFeatures({ layers: [id] }).length : -1;
  });
  assert.ok(hl > 0, `the conflicting farmland feature is highlighted (${hl})`);
  await shot(page, 'review-fail.png', 'body');
  await shot(page, 'review-fail-verdict.png', '#verdict');
  const href = await page.locator('#report-link').getAttribute('href');
  const r = await fetch(href, { headers: server.key ? { Authorization: `Bearer ${server.key}` } : {} });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/html/);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('review: a drawn clean plot passes', async () => {
  const f = app('clean-01');
  const c = centroid(f);
  const page = await openPage(authed.ctx, `/review#20/${c[1]}/${c[0]}`);
  assert.equal(await drawAndReview(page, f), 'pass');
  const statuses = await page.locator('tr.finding td.st').allInnerTexts();
  assert.ok(statuses.length >= 10 && statuses.every((s) => s.trim() === 'pass'), statuses.join(','));
  await shot(page, 'review-pass.png', 'body');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('review: an uploaded GeoJSON fills the form and is reviewed', async () => {
  const f = app('zoning-restricted-01');
  const file = path.join(ART, 'upload-zoning-restricted-01.geojson');
  fs.writeFileSync(file, JSON.stringify({ type: 'FeatureCollection', features: [f] }));
  const page = await openPage(authed.ctx, '/review');
  await page.setInputFiles('#upload', file);
  await page.waitForFunction(() => window.tudi.plot !== null);
  assert.equal(await page.inputValue('#household_id'), f.properties.applicant.household_id);
  await page.click('#submit');
  await page.waitForSelector('#outcome', { timeout: 30_000 });
  await settle(page);
  assert.equal(await page.locator('#outcome').getAttribute('data-outcome'), f.properties.label.expect_outcome);
  await shot(page, 'review-upload.png', 'body');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('review: anonymous submit asks for a key; signing in with it works', async (t) => {
  if (!server.key) {
    t.skip('no `tudi keys`: reviews need no key on this server');
    return;
  }
  const f = app('clean-02');
  const file = path.join(ART, 'upload-clean-02.geojson');
  fs.writeFileSync(file, JSON.stringify(f));
  const page = await openPage(anon.ctx, '/review');
  assert.match(await page.locator('#who').innerText(), /anonymous/);
  await page.setInputFiles('#upload', file);
  await page.waitForFunction(() => window.tudi.plot !== null);
  await page.click('#submit');
  await page.waitForSelector('#banner.show');
  assert.match(await page.locator('#banner').innerText(), /API/);
  assert.match(await page.locator('#submit-status').innerText(), /401/);
  await shot(page, 'review-anonymous-401.png', 'body');
  // Sign in: the key goes to sessionStorage, the page reloads with the role shown.
  await page.fill('#api-key', server.key);
  await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  await page.waitForFunction(() => /approver/.test(document.getElementById('who').textContent), null, { timeout: 15_000 });
  await page.evaluate(() => sessionStorage.removeItem('tudi.apiKey'));
  await page.close();
});

test('no request left localhost', () => {
  assert.ok(requests.length > 50, `requests recorded: ${requests.length}`);
  const outside = requests.filter((u) => !u.startsWith(`${server.base}/`) && !/^(data|blob):/.test(u));
  assert.deepEqual(outside, []);
});
