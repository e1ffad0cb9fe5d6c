//! `tudi export` on the bundled fixtures: the binary writes a PMTiles and an
//! MBTiles archive of the same tiles; both are read back with readers that
//! share no code with the writers (the MBTiles SQLite with rusqlite, the
//! PMTiles header and directories with a minimal parser written from the
//! v3 spec below), every tile is decoded with `mvt-reader`, and each equals
//! what the server's renderer makes of the same tile. Restricted layers are
//! refused, masked attributes left out, and an interrupted export leaves no
//! file under the final name.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::repo;

/// The small fixtures' villages (west of Xiqiao).
const BBOX: &str = "112.88,22.85,113.02,23.01";
const LAYERS: &str = "roads,villages,zoning,households";

fn tudi() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tudi"))
}

fn run(args: &[&str], out: &Path) -> Output {
    tudi()
        .arg("export")
        .args(args)
        .arg("--layers-dir")
        .arg(repo().join("layers"))
        .arg("--quiet")
        .arg(out)
        .output()
        .expect("run tudi export")
}

fn ok(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON summary")
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    assert_eq!(&b[..2], &[0x1f, 0x8b], "gzip magic");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

type Tiles = BTreeMap<(u8, u32, u32), Vec<u8>>;

/// MBTiles 1.3: `metadata(name, value)`, `tiles(zoom_level, tile_column,
/// tile_row, tile_data)` with TMS rows (y = 0 at the south).
fn read_mbtiles(path: &Path) -> (BTreeMap<String, String>, Tiles) {
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open mbtiles");
    let mut meta = BTreeMap::new();
    let mut st = db
        .prepare("SELECT name, value FROM metadata")
        .expect("metadata");
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("query");
    for r in rows {
        let (k, v) = r.expect("row");
        meta.insert(k, v);
    }
    let mut tiles = Tiles::new();
    let mut st = db
        .prepare("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        .expect("tiles");
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, u8>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .expect("query");
    for r in rows {
        let (z, x, tms_y, data) = r.expect("row");
        let y = (1u32 << z) - 1 - tms_y;
        tiles.insert((z, x, y), data);
    }
    (meta, tiles)
}

/// The fixed 127-byte PMTiles v3 header (little-endian).
struct PmHeader {
    root: (u64, u64),
    metadata: (u64, u64),
    leaves: (u64, u64),
    data: (u64, u64),
    addressed: u64,
    clustered: u8,
    internal_compression: u8,
    tile_compression: u8,
    tile_type: u8,
    min_zoom: u8,
    max_zoom: u8,
    bounds_e7: [i32; 4],
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn parse_header(b: &[u8]) -> PmHeader {
    assert_eq!(&b[..7], b"PMTiles", "magic");
    assert_eq!(b[7], 3, "spec version 3");
    PmHeader {
        root: (u64_at(b, 8), u64_at(b, 16)),
        metadata: (u64_at(b, 24), u64_at(b, 32)),
        leaves: (u64_at(b, 40), u64_at(b, 48)),
        data: (u64_at(b, 56), u64_at(b, 64)),
        addressed: u64_at(b, 72),
        clustered: b[96],
        internal_compression: b[97],
        tile_compression: b[98],
        tile_type: b[99],
        min_zoom: b[100],
        max_zoom: b[101],
        bounds_e7: [
            i32_at(b, 102),
            i32_at(b, 106),
            i32_at(b, 110),
            i32_at(b, 114),
        ],
    }
}

fn varint(b: &[u8], pos: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// `(tile_id, offset, length, run_length)` of a (decompressed) directory:
/// count, then the columns tile-id deltas, run lengths, lengths, offsets
/// (0 = right after the previous entry, else offset + 1).
fn parse_directory(b: &[u8]) -> Vec<(u64, u64, u64, u64)> {
    let mut pos = 0;
    let n = varint(b, &mut pos) as usize;
    let mut e = vec![(0u64, 0u64, 0u64, 0u64); n];
    let mut id = 0;
    for x in e.iter_mut() {
        id += varint(b, &mut pos);
        x.0 = id;
    }
    for x in e.iter_mut() {
        x.3 = varint(b, &mut pos);
    }
    for x in e.iter_mut() {
        x.2 = varint(b, &mut pos);
    }
    for i in 0..n {
        let v = varint(b, &mut pos);
        e[i].1 = if v == 0 && i > 0 {
            e[i - 1].1 + e[i - 1].2
        } else {
            v - 1
        };
    }
    assert_eq!(pos, b.len(), "directory fully consumed");
    e
}

/// Tile id -> z/x/y: ids count the tiles of lower zooms first, then the
/// Hilbert curve position within the zoom.
fn tile_zxy(id: u64) -> (u8, u32, u32) {
    let mut z = 0u8;
    let mut base = 0u64;
    while base + (1u64 << (2 * z)) <= id {
        base += 1u64 << (2 * z);
        z += 1;
    }
    let n = 1u64 << z;
    let (mut x, mut y, mut t) = (0u64, 0u64, id - base);
    let mut s = 1u64;
    while s < n {
        let rx = 1 & (t / 2);
        let ry = 1 & (t ^ rx);
        if ry == 0 {
            if rx == 1 {
                x = s - 1 - x;
                y = s - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        x += s * rx;
        y += s * ry;
        t /= 4;
        s *= 2;
    }
    (z, x as u32, y as u32)
}

fn read_pmtiles(path: &Path) -> (PmHeader, Value, Tiles) {
    let b = std::fs::read(path).expect("read pmtiles");
    let h = parse_header(&b[..127]);
    assert_eq!(h.internal_compression, 2, "gzip directories");
    let slice = |(off, len): (u64, u64)| &b[off as usize..(off + len) as usize];
    let meta: Value = serde_json::from_slice(&gunzip(slice(h.metadata))).expect("metadata JSON");
    let mut tiles = Tiles::new();
    let mut dirs = vec![gunzip(slice(h.root))];
    while let Some(dir) = dirs.pop() {
        for (id, off, len, run) in parse_directory(&dir) {
            if run == 0 {
                // A leaf directory, relative to the leaf section.
                dirs.push(gunzip(slice((h.leaves.0 + off, len))));
                continue;
            }
            let data = slice((h.data.0 + off, len)).to_vec();
            for k in 0..run {
                tiles.insert(tile_zxy(id + k), data.clone());
            }
        }
    }
    (h, meta, tiles)
}

fn decode_layers(mvt: &[u8]) -> Vec<String> {
    let r = mvt_reader::Reader::new(mvt.to_vec()).expect("valid MVT");
    let names = r.get_layer_names().expect("layer names");
    for i in 0..names.len() {
        r.get_features(i).expect("features decode");
    }
    names
}

/// The same tiles, rendered in-process by the server's renderer.
fn expected_tiles(ids: &[&str], coords: impl Iterator<Item = (u8, u32, u32)>) -> Tiles {
    let defs: Vec<_> = tudi::layer::config::read_dir(&repo().join("layers"))
        .expect("layer defs")
        .into_iter()
        .filter(|d| ids.contains(&d.id.as_str()))
        .collect();
    let loaded: Vec<tudi::layer::Layer> = tudi::layer::load_all(&defs, 2, &|_, _| {})
        .into_iter()
        .map(|r| r.expect("load").0)
        .collect();
    let by_id = |id: &str| loaded.iter().find(|l| l.def.id == id).expect("loaded");
    let layers: Vec<&tudi::layer::Layer> = ids.iter().map(|id| by_id(id)).collect();
    let opts = tudi::tiles::RenderOptions::default();
    coords
        .map(|(z, x, y)| {
            let c = tudi::tiles::TileCoord::new(u32::from(z), u64::from(x), u64::from(y))
                .expect("coord");
            let t = tudi::tiles::render_tile(&layers, c, &opts).expect("render");
            ((z, x, y), t.bytes)
        })
        .collect()
}

#[test]
fn pmtiles_and_mbtiles_hold_the_servers_tiles() {
    let dir = tempfile::tempdir().expect("tmp");
    let pm = dir.path().join("nanhai.pmtiles");
    let mb = dir.path().join("nanhai.mbtiles");
    let args = [
        "--layers",
        LAYERS,
        "--bbox",
        BBOX,
        "--minzoom",
        "8",
        "--maxzoom",
        "14",
    ];
    // `households` is restricted: refused, and nothing is left behind.
    let o = run(&args, &pm);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("households") && err.contains("--include-restricted"),
        "{err}"
    );
    assert!(!pm.exists() && !part(&pm).exists());

    let args = [
        "--layers",
        "roads,villages,zoning",
        "--bbox",
        BBOX,
        "--minzoom",
        "8",
        "--maxzoom",
        "14",
    ];
    let s_pm = ok(&run(&args, &pm));
    let s_mb = ok(&run(&args, &mb));
    assert!(!part(&pm).exists() && !part(&mb).exists(), "no .part left");
    let written = s_pm["tiles_written"].as_u64().expect("count");
    assert!(written > 20, "{s_pm}");
    assert_eq!(s_mb["tiles_written"], s_pm["tiles_written"]);

    // MBTiles through SQLite.
    let (meta, mb_tiles) = read_mbtiles(&mb);
    assert_eq!(meta.get("format").map(String::as_str), Some("pbf"));
    assert_eq!(meta.get("minzoom").map(String::as_str), Some("8"));
    assert_eq!(meta.get("maxzoom").map(String::as_str), Some("14"));
    let json: Value = serde_json::from_str(&meta["json"]).expect("json metadata");
    let ids: Vec<&str> = json["vector_layers"]
        .as_array()
        .expect("vector_layers")
        .iter()
        .map(|l| l["id"].as_str().expect("id"))
        .collect();
    // The villages' label points travel with them (`label_points`).
    assert_eq!(ids, ["roads", "villages", "villages.label", "zoning"]);
    assert!(json["vector_layers"][0]["fields"]["road_class"].is_string());
    let bounds: Vec<f64> = meta["bounds"]
        .split(',')
        .map(|v| v.parse().expect("number"))
        .collect();
    assert_eq!(bounds, [112.88, 22.85, 113.02, 23.01]);
    assert_eq!(mb_tiles.len() as u64, written);

    // PMTiles through the minimal parser.
    let (h, pm_meta, pm_tiles) = read_pmtiles(&pm);
    assert_eq!(h.tile_type, 1, "MVT");
    assert_eq!(h.tile_compression, 2, "gzip tiles");
    assert_eq!(h.clustered, 1);
    assert_eq!((h.min_zoom, h.max_zoom), (8, 14));
    assert_eq!(
        h.bounds_e7,
        [1_128_800_000, 228_500_000, 1_130_200_000, 230_100_000]
    );
    assert_eq!(h.addressed, written);
    assert!(h.root.0 == 127 && h.data.1 > 0);
    assert_eq!(pm_meta["vector_layers"], json["vector_layers"]);

    // Same tiles in both, each a valid MVT of the requested layers, and
    // byte for byte what the server renders.
    assert_eq!(
        pm_tiles.keys().collect::<Vec<_>>(),
        mb_tiles.keys().collect::<Vec<_>>()
    );
    let expected = expected_tiles(&["roads", "villages", "zoning"], pm_tiles.keys().copied());
    for (k, gz) in &pm_tiles {
        let raw = gunzip(gz);
        assert_eq!(
            raw,
            gunzip(&mb_tiles[k]),
            "tile {k:?} differs between archives"
        );
        assert_eq!(raw, expected[k], "tile {k:?} differs from the server's");
        let names = decode_layers(&raw);
        assert!(!names.is_empty());
        assert!(
            names
                .iter()
                .all(|n| ["roads", "villages", "villages.label", "zoning"].contains(&n.as_str()))
        );
    }

    // An existing archive is not replaced without --force.
    let o = run(&args, &pm);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
}

fn part(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

#[test]
fn masked_attributes_stay_out_unless_asked() {
    // The parcels made public, with the owner name masked for viewers.
    let dir = tempfile::tempdir().expect("tmp");
    let src = repo().join("fixtures/small/homestead_parcels.fgb");
    let def = format!(
        "id = \"parcels\"\ntitle = \"P\"\ncategory = \"c\"\nsource = {:?}\ncrs = \"EPSG:4547\"\nattributes = [\"zddm\", \"qlr\"]\nminzoom = 12\naccess = \"public\"\n[mask]\nqlr = \"viewer\"\n",
        src.to_str().expect("utf-8 path")
    );
    let layers = dir.path().join("layers");
    std::fs::create_dir(&layers).expect("mkdir");
    std::fs::write(layers.join("parcels.toml"), def).expect("write");
    let export = |out: &Path, extra: &[&str]| {
        tudi()
            .args([
                "export",
                "--quiet",
                "--layers",
                "parcels",
                "--minzoom",
                "15",
            ])
            .args(["--maxzoom", "15", "--layers-dir"])
            .arg(&layers)
            .args(extra)
            .arg(out)
            .output()
            .expect("run")
    };
    let masked = dir.path().join("masked.mbtiles");
    let s = ok(&export(&masked, &[]));
    assert_eq!(s["hidden_attributes"], serde_json::json!(["parcels.qlr"]));
    let whole = dir.path().join("whole.mbtiles");
    ok(&export(&whole, &["--include-restricted"]));
    let keys = |p: &Path| {
        let (meta, tiles) = read_mbtiles(p);
        let json: Value = serde_json::from_str(&meta["json"]).expect("json");
        let fields: Vec<String> = json["vector_layers"][0]["fields"]
            .as_object()
            .expect("fields")
            .keys()
            .cloned()
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for gz in tiles.values() {
            let r = mvt_reader::Reader::new(gunzip(gz)).expect("mvt");
            for f in r.get_features(0).expect("features") {
                seen.extend(f.properties.expect("props").keys().cloned());
            }
        }
        (fields, seen.into_iter().collect::<Vec<_>>())
    };
    assert_eq!(keys(&masked), (vec!["zddm".into()], vec!["zddm".into()]));
    let both: Vec<String> = vec!["qlr".into(), "zddm".into()];
    assert_eq!(keys(&whole), (both.clone(), both));
}

#[test]
fn a_killed_export_leaves_no_archive() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("big.pmtiles");
    let mut child = tudi()
        .args([
            "export",
            "--quiet",
            "--layers",
            "roads,villages,zoning,rivers",
        ])
        .args(["--minzoom", "0", "--maxzoom", "18", "--threads", "1"])
        .arg("--layers-dir")
        .arg(repo().join("layers"))
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let part = part(&out);
    let start = Instant::now();
    while !part.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(part.exists(), "the export writes OUT.part first");
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(!out.exists(), "no file under the final name after a kill");
    // The partial file is not a readable archive: the header is written last.
    let head = std::fs::read(&part).expect("part");
    assert!(
        !head.starts_with(b"PMTiles"),
        "header only written at the end"
    );
}
