//! The `tudi` binary: start-up refuses bad layer definitions with a message
//! naming the file, the key and the reason; SIGTERM shuts down gracefully.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::folder;

fn tudi() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tudi"))
}

const GOOD_DATA: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":1},"geometry":{"type":"Point","coordinates":[113.1,23.0]}}]}"#;

fn refuses(toml: &str, needles: &[&str]) {
    let dir = folder(&[("l.toml", toml), ("d.geojson", GOOD_DATA)]);
    let out = tudi()
        .args(["check", "--layers"])
        .arg(dir.path())
        .output()
        .expect("run tudi");
    assert!(!out.status.success(), "should fail: {toml}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("l.toml"), "names the file: {err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}

#[test]
fn bad_layer_definitions_stop_startup() {
    let base = "id = \"a\"\ntitle = \"A\"\ncategory = \"c\"\nsource = \"d.geojson\"\ncrs = \"EPSG:4326\"\n";
    refuses(&format!("{base}colour = \"red\"\n"), &["colour"]);
    refuses(
        &base.replace("d.geojson", "missing.geojson"),
        &["source", "missing.geojson"],
    );
    refuses(
        &base.replace("EPSG:4326", "EPSG:3857"),
        &["crs", "EPSG:3857"],
    );
    refuses(&base.replace("EPSG:4326", "ugh"), &["crs", "ugh"]);
    refuses(&format!("{base}maxzoom = 30\n"), &["maxzoom", "30"]);
    refuses(&format!("{base}minzoom = 12\nmaxzoom = 10\n"), &["minzoom"]);
    refuses(&base.replace("id = \"a\"", "id = \"A B\""), &["id"]);
    refuses(&format!("{base}drop_small = \"yes\"\n"), &["drop_small"]);
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let dir = folder(&[
        ("d.geojson", GOOD_DATA),
        (
            "l.toml",
            "id = \"a\"\ntitle = \"A\"\ncategory = \"c\"\nsource = \"d.geojson\"\ncrs = \"EPSG:4326\"\nattributes = [\"a\"]\n",
        ),
    ]);
    let mut child = tudi()
        .args(["serve", "--no-review", "--bind", "127.0.0.1:0", "--layers"])
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = false;
    for line in lines.by_ref() {
        let line = line.expect("line");
        if line.contains("ready") {
            ready = true;
            break;
        }
        assert!(Instant::now() < deadline, "server did not become ready");
    }
    assert!(ready, "server never logged ready");
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `tudi serve` on a free port over the bundled fixtures; returns the
/// child and its base URL once it is ready.
/// Kills the child when dropped, so a failing test leaves no server behind.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tudi keys create --role ROLE`: the key printed on stdout.
fn cli_key(data: &std::path::Path, role: &str) -> String {
    let out = tudi()
        .args(["keys", "create", "--role", role, "--data-dir"])
        .arg(data)
        .output()
        .expect("tudi keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(key.starts_with("tudi_") && key.len() == 45, "{key}");
    key
}

fn serve_fixtures(data: &std::path::Path) -> (Guard, String) {
    let repo = super::support::repo();
    let mut child = tudi()
        .current_dir(&repo)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(i) = line.find("listening on http://") {
            let rest = &line[i + "listening on ".len()..];
            base = rest.split_whitespace().next().map(str::to_string);
        }
        if line.contains("ready") {
            break;
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Guard(child), base.expect("listening line"))
}

#[tokio::test]
async fn kill_9_mid_batch_keeps_every_acknowledged_verdict() {
    let data = tempfile::tempdir().expect("tmp");
    let key = cli_key(data.path(), "approver");
    let (mut guard, base) = serve_fixtures(data.path());
    let text =
        std::fs::read_to_string(super::support::repo().join("fixtures/small/applications.geojson"))
            .expect("fixture");
    let fc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let one = fc["features"].as_array().expect("features").clone();
    let many: Vec<serde_json::Value> = (0..40).flat_map(|_| one.clone()).collect();
    let body = serde_json::json!({"type": "FeatureCollection", "features": many}).to_string();
    let mut resp = reqwest::Client::new()
        .post(format!("{base}/api/reviews/batch"))
        .bearer_auth(&key)
        .body(body)
        .send()
        .await
        .expect("batch");
    assert_eq!(resp.status(), 200);
    let mut acked: Vec<String> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    while acked.len() < 300 {
        let Some(chunk) = resp.chunk().await.expect("chunk") else {
            break;
        };
        buf.extend_from_slice(&chunk);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let v: serde_json::Value = serde_json::from_slice(&line).expect("line");
            if let Some(id) = v["id"].as_str() {
                acked.push(id.to_string());
            }
        }
    }
    assert!(acked.len() >= 300, "only {} verdicts streamed", acked.len());
    guard.0.kill().expect("kill -9");
    guard.0.wait().expect("reaped");
    drop(resp);

    let out = tudi()
        .args(["audit", "verify", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let store = tudi::store::SqliteStore::open(data.path()).expect("store");
    use tudi::store::AuditStore;
    for id in &acked {
        assert!(
            store.get(id).expect("get").is_some(),
            "acknowledged verdict {id} lost"
        );
    }
    assert!(store.verify().expect("verify").ok);
}

const BOW_TIE: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"k":"ok"},"geometry":{"type":"Polygon","coordinates":[[[113.0,23.0],[113.001,23.0],[113.001,23.001],[113.0,23.001],[113.0,23.0]]]}},
 {"type":"Feature","properties":{"k":"bow"},"geometry":{"type":"Polygon","coordinates":[[[113.0,23.0],[113.001,23.001],[113.001,23.0],[113.0,23.001],[113.0,23.0]]]}}]}"#;

fn check_json(dir: &std::path::Path) -> (bool, Vec<serde_json::Value>, String) {
    let out = tudi()
        .args(["check", "--layers"])
        .arg(dir)
        .output()
        .expect("run tudi check");
    let reports = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    (
        out.status.success(),
        reports,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn invalid_geometry_is_reported_per_feature_and_policy_applies() {
    let toml = "id = \"b\"\ntitle = \"B\"\ncategory = \"c\"\nsource = \"b.geojson\"\ncrs = \"EPSG:4326\"\nattributes = [\"k\"]\n";
    let dir = folder(&[("b.geojson", BOW_TIE), ("b.toml", toml)]);
    let (ok, reports, _) = check_json(dir.path());
    assert!(ok);
    assert_eq!(reports[0]["repaired"], 1);
    let problem = &reports[0]["problems"][0];
    assert_eq!(problem[0], 2, "feature id 2 (the second row)");
    assert!(
        problem[1]
            .as_str()
            .expect("reason")
            .contains("self-intersection"),
        "{problem}"
    );

    let dir = folder(&[
        ("b.geojson", BOW_TIE),
        ("b.toml", &format!("{toml}invalid = \"reject\"\n")),
    ]);
    let (ok, _, err) = check_json(dir.path());
    assert!(!ok);
    assert!(err.contains("feature 2") && err.contains("reject"), "{err}");
}

#[test]
fn real_nanhai_boundary_loads_after_repair() {
    let (ok, reports, err) = check_json(&super::support::repo().join("layers"));
    assert!(ok, "{err}");
    let b = reports
        .iter()
        .find(|r| r["layer"] == "district_boundary")
        .expect("boundary layer");
    assert_eq!(b["features"], 1);
    assert_eq!(b["repaired"], 1, "the published ring self-intersects: {b}");
    for r in &reports {
        assert_eq!(r["dropped"], 0, "{r}");
    }
}

#[test]
fn both_axis_orders_of_gauss_kruger_input_land_in_the_same_place() {
    // One 10 m square near Nanhai in EPSG:4547, written east/north and north/east.
    let (e, n) = tudi::crs::lonlat_to_gk(113.1, 23.05, 114.0);
    let sq = |swap: bool| {
        let pts = [
            (e, n),
            (e + 10.0, n),
            (e + 10.0, n + 10.0),
            (e, n + 10.0),
            (e, n),
        ];
        let coords: Vec<String> = pts
            .iter()
            .map(|(a, b)| {
                if swap {
                    format!("[{b},{a}]")
                } else {
                    format!("[{a},{b}]")
                }
            })
            .collect();
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}]}}"#,
            coords.join(",")
        )
    };
    let en = sq(false);
    let ne = sq(true);
    let def = |id: &str, file: &str| {
        format!(
            "id = \"{id}\"\ntitle = \"T\"\ncategory = \"c\"\nsource = \"{file}\"\ncrs = \"EPSG:4547\"\n"
        )
    };
    let dir = folder(&[
        ("en.geojson", &en),
        ("ne.geojson", &ne),
        ("en.toml", &def("en", "en.geojson")),
        ("ne.toml", &def("ne", "ne.geojson")),
    ]);
    let (ok, reports, err) = check_json(dir.path());
    assert!(ok, "{err}");
    let axis: Vec<&str> = reports
        .iter()
        .map(|r| r["axis_order"].as_str().expect("axis"))
        .collect();
    assert_eq!(axis, vec!["east_north", "north_east"]);
    let defs = tudi::layer::config::read_dir(dir.path()).expect("defs");
    let a = tudi::layer::load_layer(&defs[0], 1).expect("en").0;
    let b = tudi::layer::load_layer(&defs[1], 1).expect("ne").0;
    for i in 0..4 {
        assert!(
            (a.bounds[i] - b.bounds[i]).abs() < 1e-9,
            "{:?} vs {:?}",
            a.bounds,
            b.bounds
        );
    }
    assert!(
        (a.bounds[0] - 113.1).abs() < 1e-6 && (a.bounds[1] - 23.05).abs() < 1e-6,
        "{:?}",
        a.bounds
    );
}

#[test]
fn offline_review_then_tampering_is_caught_by_audit_verify() {
    let repo = super::support::repo();
    let tmp = tempfile::tempdir().expect("tmp");
    let out_file = tmp.path().join("verdicts.ndjson");
    let data = tmp.path().join("data");
    let out = tudi()
        .current_dir(&repo)
        .args(["review", "fixtures/small/applications.geojson", "--out"])
        .arg(&out_file)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("tudi review");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let apps: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("fixtures/small/applications.geojson")).expect("apps"),
    )
    .expect("json");
    let apps = apps["features"].as_array().expect("features");
    let text = std::fs::read_to_string(&out_file).expect("verdicts");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(lines.len(), apps.len());
    for v in &lines {
        let i = v["index"].as_u64().expect("index") as usize;
        assert_eq!(
            v["outcome"], apps[i]["properties"]["label"]["expect_outcome"],
            "{}",
            apps[i]["properties"]["label"]["case"]
        );
    }
    let verify = |expect_ok: bool| {
        let out = tudi()
            .args(["audit", "verify", "--data-dir"])
            .arg(&data)
            .output()
            .expect("verify");
        assert_eq!(
            out.status.success(),
            expect_ok,
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("report")
    };
    assert_eq!(verify(true)["entries"], apps.len());
    // Edit one stored verdict: caught and located.
    let db = rusqlite::Connection::open(data.join("tudi.sqlite")).expect("db");
    db.execute(
        "UPDATE audit SET body = replace(body, '\"plot_area_m2\":', '\"plot_area_m2\":1') WHERE seq = 7",
        [],
    )
    .expect("tamper");
    let r = verify(false);
    assert!(
        r["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p["kind"] == "edited" && p["seq"] == 7),
        "{r}"
    );
}
