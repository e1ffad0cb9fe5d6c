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
        .args(["serve", "--bind", "127.0.0.1:0", "--layers"])
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
