//! Publishing with the real binary: `tudi keys create` + `tudi publish`
//! (create, new version, dry run), a restart serves the published versions,
//! and `kill -9` in the middle of publishes leaves the catalog consistent,
//! the last committed version served and no stray files.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn tudi() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tudi"))
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn key(data: &Path, role: &str) -> String {
    let out = tudi()
        .args(["keys", "create", "--role", role, "--data-dir"])
        .arg(data)
        .output()
        .expect("keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// A layer folder with one small public layer.
fn layers() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let square = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":[[[113.1,23.0],[113.11,23.0],[113.11,23.01],[113.1,23.01],[113.1,23.0]]]}}]}"#;
    std::fs::write(dir.path().join("squares.geojson"), square).expect("write");
    std::fs::write(
        dir.path().join("squares.toml"),
        "id = \"squares\"\ntitle = \"Squares\"\ncategory = \"test\"\nsource = \"squares.geojson\"\ncrs = \"EPSG:4326\"\nattributes = [\"n\"]\n",
    )
    .expect("write");
    dir
}

fn serve(layers: &Path, data: &Path) -> (Guard, String) {
    let mut child = tudi()
        .current_dir(super::support::repo())
        .args(["serve", "--no-review", "--bind", "127.0.0.1:0", "--layers"])
        .arg(layers)
        .arg("--data-dir")
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
    std::thread::spawn(move || for _ in lines {});
    (Guard(child), base.expect("listening line"))
}

/// `n` squares whose every feature has `v = tag`.
fn squares(tag: u32, n: usize) -> String {
    let mut feats = Vec::new();
    for i in 0..n {
        let x = 113.10 + (i % 100) as f64 * 0.0005;
        let y = 23.00 + (i / 100) as f64 * 0.0005;
        feats.push(format!(
            r#"{{"type":"Feature","properties":{{"v":{tag},"i":{i}}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x2},{y}],[{x2},{y2}],[{x},{y2}],[{x},{y}]]]}}}}"#,
            x2 = x + 0.0004,
            y2 = y + 0.0004
        ));
    }
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        feats.join(",")
    )
}

fn number(tag: &str) -> u64 {
    tag.split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("version number")
}

async fn catalog_version(base: &str, layer: &str) -> Option<String> {
    let cat: Value = reqwest::get(format!("{base}/catalog"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    cat["services"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == layer)
        .and_then(|s| s["version_tag"].as_str().map(str::to_string))
}

#[tokio::test]
async fn cli_publish_then_restart_serves_the_published_version() {
    let (layers, data) = (layers(), tempfile::tempdir().expect("tmp"));
    let publisher = key(data.path(), "publisher");
    let (guard, base) = serve(layers.path(), data.path());
    let file = data.path().join("up.geojson");
    std::fs::write(&file, squares(1, 500)).expect("write");
    let run = |args: &[&str]| {
        tudi()
            .arg("publish")
            .arg(&file)
            .args(args)
            .args(["--server", &base])
            .env("TUDI_KEY", &publisher)
            .output()
            .expect("tudi publish")
    };
    let out = run(&[
        "--id",
        "blocks",
        "--title",
        "地块 Blocks",
        "--category",
        "test",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(body["version"]["version"], 1);
    assert_eq!(body["report"]["feature_count"], 500);
    let out = run(&["--id", "blocks", "--dry-run"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dry run"));
    std::fs::write(&file, squares(2, 400)).expect("write");
    let out = run(&["--id", "blocks", "--note", "second"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(body["version"]["version"], 2);
    assert_eq!(body["report"]["change"]["feature_count_change"], -100);
    let tag = catalog_version(&base, "blocks").await.expect("served");
    // A wrong key is refused with a message.
    let out = tudi()
        .arg("publish")
        .arg(&file)
        .args([
            "--id",
            "blocks",
            "--server",
            &base,
            "--key",
            "tudi_0000000000000000000000000000000000000000",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    drop(guard);
    let (_guard, base) = serve(layers.path(), data.path());
    assert_eq!(catalog_version(&base, "blocks").await, Some(tag));
}

#[tokio::test]
async fn kill_9_during_publishes_keeps_the_catalog_consistent() {
    let (layers, data) = (layers(), tempfile::tempdir().expect("tmp"));
    let publisher = key(data.path(), "publisher");
    let body = squares(7, 5_000);
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..6u64 {
        let (mut guard, base) = serve(layers.path(), data.path());
        let before = catalog_version(&base, "squares").await.expect("served");
        if let Some(last) = acknowledged.last() {
            // The last acknowledged version, or a later one that committed
            // just before its answer was lost to the kill.
            assert!(
                number(&before) >= number(last),
                "round {round}: {before} served, {last} acknowledged"
            );
        }
        let client = reqwest::Client::new();
        let url = format!("{base}/api/layers/squares/versions");
        let req = client
            .post(url)
            .bearer_auth(&publisher)
            .header("content-type", "application/geo+json")
            .body(body.clone())
            .send();
        let handle = tokio::spawn(req);
        // Kill at a different moment each round: during the upload, the
        // validation, the write or the swap.
        tokio::time::sleep(Duration::from_millis(
            [20, 80, 200, 400, 800, 3000][round as usize],
        ))
        .await;
        guard.0.kill().expect("kill -9");
        guard.0.wait().expect("reaped");
        if let Ok(Ok(resp)) = handle.await
            && resp.status() == 201
            && let Ok(v) = resp.json::<Value>().await
            && let Some(t) = v["version_tag"].as_str()
        {
            acknowledged.push(t.to_string());
        }
        drop(guard);
    }
    eprintln!(
        "{} of 6 killed publishes were acknowledged",
        acknowledged.len()
    );
    let (_guard, base) = serve(layers.path(), data.path());
    let served = catalog_version(&base, "squares").await.expect("served");
    if let Some(last) = acknowledged.last() {
        // An acknowledged publish is never lost (a later unacknowledged one
        // may have committed too).
        let listed: Value = reqwest::Client::new()
            .get(format!("{base}/api/layers/squares/versions"))
            .bearer_auth(&publisher)
            .send()
            .await
            .expect("versions")
            .json()
            .await
            .expect("json");
        let n = listed["versions"].as_array().expect("versions").len();
        let last_n: usize = last.split('.').next().expect("n").parse().expect("number");
        assert!(n >= last_n, "{n} versions listed, {last} acknowledged");
    }
    // Every version file on disk is named by the catalog; no upload left.
    let listed: Value = reqwest::Client::new()
        .get(format!("{base}/api/layers/squares/versions"))
        .bearer_auth(&publisher)
        .send()
        .await
        .expect("versions")
        .json()
        .await
        .expect("json");
    let published = listed["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter(|v| v["origin"] == "api")
        .count();
    let on_disk = std::fs::read_dir(data.path().join("layers/squares"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(on_disk, published, "stray or missing version files");
    let tmp = std::fs::read_dir(data.path().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(tmp, 0, "uploads left in tmp/");
    // The served version renders.
    let (z, x, y) = super::support::tile_of(113.1001, 23.0001, 14);
    let r = reqwest::get(format!("{base}/tiles/squares/{z}/{x}/{y}"))
        .await
        .expect("tile");
    assert_eq!(r.status(), 200, "{served}");
}
