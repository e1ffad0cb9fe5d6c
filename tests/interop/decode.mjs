// Decodes a tudi tile with @mapbox/vector-tile + pbf (Mapbox's reference
// JavaScript decoder) and checks its layers and features.
//   node decode.mjs TILE_URL LAYER[:MIN_FEATURES] ... [--key KEY]
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';

const args = process.argv.slice(2);
const keyAt = args.indexOf('--key');
const key = keyAt >= 0 ? args.splice(keyAt, 2)[1] : '';
const [url, ...expect] = args;
const resp = await fetch(url, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
if (resp.status !== 200) throw new Error(`${url}: HTTP ${resp.status}`);
const tile = new VectorTile(new PbfReader(new Uint8Array(await resp.arrayBuffer())));
let failed = 0;
for (const spec of expect) {
  const [name, min = '1'] = spec.split(':');
  const layer = tile.layers[name];
  if (!layer) {
    console.log(`FAIL ${name}: missing (layers: ${Object.keys(tile.layers).join(', ')})`);
    failed++;
    continue;
  }
  let rings = 0;
  for (let i = 0; i < layer.length; i++) {
    const f = layer.feature(i);
    const geom = f.loadGeometry();
    rings += geom.length;
    for (const ring of geom) {
      for (const p of ring) {
        if (p.x < -layer.extent || p.x > 2 * layer.extent || p.y < -layer.extent || p.y > 2 * layer.extent) {
          throw new Error(`${name} feature ${f.id}: point ${p.x},${p.y} far outside the extent`);
        }
      }
    }
    f.toGeoJSON(0, 0, 0); // must not throw
  }
  const first = layer.length ? layer.feature(0) : null;
  const ok = layer.length >= Number(min) && layer.version === 2 && layer.extent === 4096;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${layer.length} features, ${rings} parts, v${layer.version}, extent ${layer.extent}` +
    (first ? `, first id ${first.id} ${JSON.stringify(first.properties).slice(0, 120)}` : ''));
  if (!ok) failed++;
}
process.exit(failed ? 1 : 0);
