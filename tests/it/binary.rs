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
    let (mut guard, base) = serve_fixtures(data.path());
    let text = std::fs::read_to_string(super::support::repo().join("fixtures/small/applications.geojson"))
        .expect("fixture");
    let fc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let one = fc["features"].as_array().expect("features").clone();
    let many: Vec<serde_json::Value> = (0..40).flat_map(|_| one.clone()).collect();
    let body = serde_json::json!({"type": "FeatureCollection", "features": many}).to_string();
    let mut resp = reqwest::Client::new()
        .post(format!("{base}/api/reviews/batch"))
        .body(body)
        .send()
        .await
        .expect("batch");
    assert_eq!(resp.status(), 200);
    let mut acked: Vec<String> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    while acked.len() < 300 {
        let Some(chunk) = resp.chunk().await.expect("chunk") else { break };
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
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let store = tudi::store::SqliteStore::open(data.path()).expect("store");
    for id in &acked {
        assert!(store.get(id).expect("get").is_some(), "acknowledged verdict {id} lost");
    }
    assert!(store.verify().expect("verify").ok);
}
