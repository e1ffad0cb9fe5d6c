//! Security review of the HTTP surface, one test per finding class:
//! hostile text never reaches HTML unescaped (the review report, error
//! answers), no URL or upload name reaches a file outside the data folder,
//! restricted layers never leak (catalog, TileJSON, composites, styles,
//! `/health`, `/metrics`, tile attributes, cached tiles, ETags), and API
//! keys never reach the server log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tudi::auth::Role;

use super::support::{decode, fixtures_server, get, get_as, key, repo, tile_of};

const RESTRICTED: [&str; 2] = ["households", "homestead_parcels"];

/// A raw HTTP/1.1 request with the path exactly as given (clients
/// normalise `..` away); returns the status and the body.
fn raw(base: &str, method: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let auth = auth
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_review_report_escapes_hostile_input() {
    let s = fixtures_server();
    let apps: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("fixtures/small/applications.geojson"))
            .expect("applications"),
    )
    .expect("json");
    let f = &apps["features"][0];
    let mut application = f["properties"]["application"].clone();
    application["replaces_parcel"] = Value::Null;
    let body = json!({
        "plot": f["geometry"],
        "applicant": {
            "household_id": "\"><img src=x onerror=alert(2)>",
            "name": "<script>alert(1)</script>&amp;"
        },
        "application": application,
    });
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/reviews", s.base))
        .bearer_auth(key(Role::Approver))
        .json(&body)
        .send()
        .await
        .expect("review");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let v: Value = r.json().await.expect("verdict");
    let id = v["id"].as_str().expect("id");
    let r = get_as(
        &format!("{}/api/reviews/{id}/report", s.base),
        Role::Approver,
    )
    .await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    let html = r.text().await.expect("html");
    assert!(!html.contains("<script"), "a script tag in the report");
    assert!(!html.contains("<img src=x"), "an unescaped img tag");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x"));
}

#[tokio::test]
async fn errors_are_json_and_never_html() {
    let s = fixtures_server();
    let approver = key(Role::Approver);
    for (method, path, auth) in [
        ("GET", "/nope/%3Cscript%3Ealert(1)%3C/script%3E", None),
        ("GET", "/tiles/%3Cscript%3E/1/2/3", None),
        ("GET", "/tiles/roads/1/2/%3Cb%3E", None),
        ("GET", "/tiles/roads/14/1/2?v=a&v=%3Cscript%3E", None),
        ("GET", "/tiles/%FF%FE/1/2/3", None),
        ("GET", "/fonts/%3Cscript%3E/0-255.pbf", None),
        ("GET", "/web/%3Cscript%3E.html", None),
        ("GET", "/styles/%3Cscript%3E", None),
        ("DELETE", "/catalog", None),
        ("GET", "/api/reviews/%3Cscript%3E/report", Some(approver)),
        ("GET", "/api/reviews/r_%3Cimg%3E", Some(approver)),
        ("GET", "/catalog", Some("tudi_<script>alert(1)</script>")),
    ] {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().expect("method"), format!("{}{path}", s.base));
        if let Some(k) = auth {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
        let ct = r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .to_string();
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        let v: Value = r.json().await.expect("a JSON error");
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    }
}

#[tokio::test]
async fn urls_never_reach_files_outside_the_data_folder() {
    let s = fixtures_server();
    let base = s.base.clone();
    let approver = key(Role::Approver);
    let publisher = key(Role::Publisher);
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("GET", "/web/../../Cargo.toml".into(), None),
        ("GET", "/web/..%2f..%2fCargo.toml".into(), None),
        ("GET", "/web/%2e%2e/%2e%2e/Cargo.toml".into(), None),
        ("GET", "/web/vendor/../../../../etc/passwd".into(), None),
        (
            "GET",
            "/fonts/../../../../etc/passwd/0-255.pbf".into(),
            None,
        ),
        (
            "GET",
            "/fonts/..%2f..%2f..%2f..%2fetc%2fpasswd/0-255.pbf".into(),
            None,
        ),
        (
            "GET",
            "/fonts/Noto Sans/..%2f..%2fetc%2fpasswd".into(),
            None,
        ),
        ("GET", "/styles/..%2f..%2fCargo.toml".into(), None),
        ("GET", "/styles/../Cargo.toml".into(), None),
        ("GET", "/tiles/..%2f..%2fCargo.toml".into(), None),
        ("GET", "/tiles/..%2fhouseholds/14/1/1".into(), None),
        (
            "GET",
            "/api/reviews/..%2f..%2fcatalog.sqlite/report".into(),
            Some(approver),
        ),
        (
            "GET",
            "/api/layers/..%2f..%2fetc/versions".into(),
            Some(publisher),
        ),
        ("DELETE", "/api/layers/..".into(), Some(publisher)),
        (
            "DELETE",
            "/api/layers/..%2f..%2fevil".into(),
            Some(publisher),
        ),
        (
            "POST",
            "/api/layers/..%2f..%2fevil/rollback".into(),
            Some(publisher),
        ),
        (
            "POST",
            "/api/layers/..%2f..%2fevil/versions".into(),
            Some(publisher),
        ),
        (
            "POST",
            "/api/layers?id=..%2f..%2fevil&title=t&category=c".into(),
            Some(publisher),
        ),
    ];
    for (method, path, auth) in cases {
        let base = base.clone();
        let p2 = path.clone();
        let (status, body) = tokio::task::spawn_blocking(move || raw(&base, method, &p2, auth))
            .await
            .expect("task");
        assert!(
            (400..500).contains(&status),
            "{method} {path}: {status} {body}"
        );
        for leaked in ["[package]", "root:", "SQLite format"] {
            assert!(!body.contains(leaked), "{method} {path} leaked {leaked}");
        }
    }
    // An upload's file name is never a path: a multipart part named
    // `../../../evil-*.geojson` publishes (or not) without writing it.
    // (On a server of its own: a new layer would change the shared
    // fixtures server's catalog under other tests.)
    let geojson = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},"geometry":{"type":"Point","coordinates":[113.1,23.0]}}]}"#;
    let layers = super::support::folder(&[
        ("p.geojson", geojson),
        (
            "p.toml",
            "id = \"p\"\ntitle = \"P\"\ncategory = \"c\"\nsource = \"p.geojson\"\ncrs = \"EPSG:4326\"\n",
        ),
    ]);
    let s = super::support::start(layers.path(), tudi::http::ServerConfig::default());
    let name = format!("evil-{}.geojson", std::process::id());
    let boundary = "tudiboundary7d1f";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../../../{name}\"\r\n\
         Content-Type: application/geo+json\r\n\r\n{geojson}\r\n--{boundary}--\r\n"
    );
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/layers?id=traversal&title=T&category=test",
            s.base
        ))
        .bearer_auth(publisher)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let mut dir = s.data.clone();
    for _ in 0..5 {
        assert!(
            !dir.join(&name).exists(),
            "{} written",
            dir.join(&name).display()
        );
        match dir.parent() {
            Some(p) => dir = p.to_path_buf(),
            None => break,
        }
    }
    assert!(!std::path::Path::new("/tmp").join(&name).exists());
    assert!(
        !s.data.join("layers").join("evil").exists() && !s.data.join("evil").exists(),
        "a layer folder named after a traversal id"
    );
}

fn ids(v: &Value) -> Vec<String> {
    v["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn restricted_layers_never_leak_to_anonymous_callers() {
    let s = fixtures_server();
    let (z, x, y) = tile_of(113.0, 22.95, 14);
    let catalog = get(&format!("{}/catalog", s.base))
        .await
        .text()
        .await
        .expect("catalog");
    let public = ids(&serde_json::from_str(&catalog).expect("json"));
    for id in RESTRICTED {
        assert!(!catalog.contains(id), "catalog names {id}");
        for path in [
            format!("/tiles/{id}"),
            format!("/tiles/roads,{id}"),
            format!("/tiles/roads,roads,{id}"),
            format!("/tiles/{id}/{z}/{x}/{y}"),
            format!("/tiles/{id}/{z}/{x}/{y}.pbf"),
            format!("/tiles/roads,{id}/{z}/{x}/{y}"),
            format!("/tiles/{id},roads/{z}/{x}/{y}.mvt"),
        ] {
            let r = get(&format!("{}{path}", s.base)).await;
            assert_eq!(r.status(), 404, "{path}");
        }
    }
    for name in ["land-review", "parcels"] {
        let style = get(&format!("{}/styles/{name}", s.base))
            .await
            .text()
            .await
            .expect("style");
        for id in RESTRICTED {
            assert!(!style.contains(id), "style {name} names {id}");
        }
    }
    // /health counts only what the caller may see.
    let h: Value = get(&format!("{}/health", s.base))
        .await
        .json()
        .await
        .expect("health");
    assert_eq!(h["layers_total"], public.len(), "{h}");
    assert_eq!(h["layers_loaded"], public.len(), "{h}");
    let h: Value = get_as(&format!("{}/health", s.base), Role::Approver)
        .await
        .json()
        .await
        .expect("health");
    assert_eq!(h["layers_total"], public.len() + RESTRICTED.len(), "{h}");
    // /metrics names no restricted layer to an anonymous scraper; an admin
    // sees every layer.
    let m = get(&format!("{}/metrics", s.base))
        .await
        .text()
        .await
        .expect("metrics");
    assert!(m.contains("layer=\"roads\""), "{m}");
    for id in RESTRICTED {
        assert!(!m.contains(id), "anonymous /metrics names {id}");
    }
    let m = get_as(&format!("{}/metrics", s.base), Role::Admin)
        .await
        .text()
        .await
        .expect("metrics");
    for id in RESTRICTED {
        assert!(
            m.contains(&format!("layer=\"{id}\"")),
            "admin /metrics lacks {id}"
        );
    }
    // The metrics document stays well-formed after filtering.
    assert!(m.trim_end().ends_with("# EOF"));
}

/// A tile with parcels in it, from the fixture's `n`th parcel.
fn parcel_tile(n: usize, z: u8) -> (u8, u32, u32) {
    use flatgeobuf::{FallibleStreamingIterator, FgbReader};
    use geo::BoundingRect;
    use geozero::ToGeo;
    let file =
        std::fs::File::open(repo().join("fixtures/small/homestead_parcels.fgb")).expect("fgb");
    let mut reader = FgbReader::open(std::io::BufReader::new(file))
        .expect("open")
        .select_all_seq()
        .expect("select");
    for _ in 0..n {
        reader.next().expect("read");
    }
    let f = reader.next().expect("read").expect("a parcel");
    let c = f
        .to_geo()
        .expect("geometry")
        .bounding_rect()
        .expect("bbox")
        .center();
    let (lon, lat) = tudi::crs::gk_to_lonlat(c.x, c.y, 114.0);
    tile_of(lon, lat, z)
}

#[tokio::test]
async fn cached_tiles_and_etags_never_leak_across_roles() {
    let s = fixtures_server();
    let (z, x, y) = parcel_tile(40, 15);
    let client = reqwest::Client::new();
    let fetch = |path: String, role: Option<Role>, etag: Option<String>| {
        let mut req = client.get(format!("{}{path}", s.base));
        if let Some(r) = role {
            req = req.bearer_auth(key(r));
        }
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        req.send()
    };
    for path in [
        format!("/tiles/homestead_parcels/{z}/{x}/{y}"),
        format!("/tiles/roads,homestead_parcels/{z}/{x}/{y}.mvt"),
    ] {
        // The approver's tile goes into the cache first.
        let a = fetch(path.clone(), Some(Role::Approver), None)
            .await
            .expect("tile");
        assert_eq!(a.status(), 200, "{path}");
        assert!(
            a.headers()["cache-control"]
                .to_str()
                .expect("cc")
                .starts_with("private")
        );
        assert!(
            a.headers()["vary"]
                .to_str()
                .expect("vary")
                .contains("Authorization")
        );
        let etag = a.headers()["etag"].to_str().expect("etag").to_string();
        let at = decode(&a.bytes().await.expect("body"));
        let parcels = at
            .get_layer_names()
            .expect("names")
            .iter()
            .position(|n| n == "homestead_parcels")
            .expect("parcels layer");
        let af = at.get_features(parcels).expect("features");
        assert!(
            af.iter()
                .any(|f| f.properties.as_ref().is_some_and(|p| p.contains_key("qlr")))
        );
        // The viewer gets its own rendering: no owner names, another ETag,
        // and the approver's ETag is not a match.
        let v = fetch(path.clone(), Some(Role::Viewer), Some(etag.clone()))
            .await
            .expect("tile");
        assert_eq!(v.status(), 200, "{path}: the approver's ETag matched");
        assert_ne!(v.headers()["etag"].to_str().expect("etag"), etag);
        let vt = decode(&v.bytes().await.expect("body"));
        let vf = vt.get_features(parcels).expect("features");
        assert!(!vf.is_empty());
        for f in &vf {
            assert!(
                !f.properties.as_ref().is_some_and(|p| p.contains_key("qlr")),
                "{path}: the viewer got owner names"
            );
        }
        // Anonymous: 404 whatever the cache holds or the ETag says.
        let n = fetch(path.clone(), None, Some(etag.clone()))
            .await
            .expect("tile");
        assert_eq!(n.status(), 404, "{path}");
        let n = fetch(path.clone(), None, Some("*".into()))
            .await
            .expect("tile");
        assert_eq!(n.status(), 404, "{path}");
    }
    // TileJSON follows the same rules.
    let tj: Value = fetch(
        "/tiles/homestead_parcels".into(),
        Some(Role::Approver),
        None,
    )
    .await
    .expect("tj")
    .json()
    .await
    .expect("json");
    assert!(tj["vector_layers"][0]["fields"].get("qlr").is_some());
    let tj: Value = fetch("/tiles/homestead_parcels".into(), Some(Role::Viewer), None)
        .await
        .expect("tj")
        .json()
        .await
        .expect("json");
    assert!(tj["vector_layers"][0]["fields"].get("qlr").is_none());
    // Answers that depend on the key are never stored by shared caches.
    let c = fetch("/catalog".into(), Some(Role::Approver), None)
        .await
        .expect("catalog");
    assert!(
        c.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .starts_with("private")
    );
    let k = fetch("/api/me".into(), Some(Role::Approver), None)
        .await
        .expect("me");
    assert_eq!(k.headers()["cache-control"], "no-store");
    // Links built from the request's host headers vary on them, so a shared
    // cache cannot hand one client's (forged) host to another.
    for path in ["/catalog", "/tiles/roads", "/styles/land-review"] {
        let r = client
            .get(format!("{}{path}", s.base))
            .header("x-forwarded-host", "evil.example")
            .send()
            .await
            .expect("get");
        let vary = r
            .headers()
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
            .to_ascii_lowercase();
        assert!(
            vary.contains("x-forwarded-host") && vary.contains("host"),
            "{path}: {vary}"
        );
    }
}

/// `tudi keys create --role ROLE --data-dir DATA`: the secret.
fn cli_key(data: &std::path::Path, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args([
            "keys",
            "create",
            "--role",
            role,
            "--label",
            "log-test",
            "--data-dir",
        ])
        .arg(data)
        .output()
        .expect("tudi keys create");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

#[test]
fn api_keys_never_reach_the_server_log() {
    let layers = super::support::folder(&[
        (
            "d.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":1},"geometry":{"type":"Point","coordinates":[113.1,23.0]}}]}"#,
        ),
        (
            "l.toml",
            "id = \"a\"\ntitle = \"A\"\ncategory = \"c\"\nsource = \"d.geojson\"\ncrs = \"EPSG:4326\"\naccess = \"restricted\"\nattributes = [\"a\"]\n",
        ),
    ]);
    let data = tempfile::tempdir().expect("tmp");
    let admin = cli_key(data.path(), "admin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .current_dir(repo())
        .env("RUST_LOG", "trace")
        .args(["serve", "--no-review", "--bind", "127.0.0.1:0", "--layers"])
        .arg(layers.path())
        .arg("--data-dir")
        .arg(data.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let mut base = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        if let Some(i) = line.find("listening on http://") {
            base = line[i + "listening on ".len()..]
                .split_whitespace()
                .next()
                .map(str::to_string);
        }
        let ready = line.contains("ready");
        log.push(line);
        if ready {
            break;
        }
    }
    let base = base.expect("listening line");
    let fake = format!("tudi_{}", "ab".repeat(20));
    // Requests with good, unknown, malformed and revoked keys.
    let (_, me) = raw(&base, "GET", "/api/me", Some(&admin));
    assert!(me.contains("admin"), "{me}");
    raw(&base, "GET", "/tiles/a/14/13331/7118", Some(&admin));
    raw(&base, "GET", "/catalog", Some(&fake));
    raw(&base, "GET", "/catalog", Some("tudi_short"));
    let created = {
        let addr = base.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect");
        let body = r#"{"role":"viewer","label":"x"}"#;
        write!(
            s,
            "POST /api/keys HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        assert!(got.starts_with("HTTP/1.1 201"), "{got}");
        assert!(
            got.to_ascii_lowercase().contains("cache-control: no-store"),
            "{got}"
        );
        let body = got.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let v: Value = serde_json::from_str(body).expect("json");
        (
            v["key"].as_str().expect("key").to_string(),
            v["id"].as_str().expect("id").to_string(),
        )
    };
    raw(&base, "GET", "/api/me", Some(&created.0));
    raw(
        &base,
        "DELETE",
        &format!("/api/keys/{}", created.1),
        Some(&admin),
    );
    raw(&base, "GET", "/api/me", Some(&created.0));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert!(log.len() > 200, "the log is suspiciously short: {log}");
    for secret in [admin.as_str(), created.0.as_str(), fake.as_str()] {
        assert!(!log.contains(secret), "a key is in the log");
        // Nor a recognisable part of it.
        assert!(!log.contains(&secret[5..25]), "part of a key is in the log");
    }
    // `tudi keys list` shows no secret either.
    let out = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["keys", "list", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("keys list");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("log-test"), "{listed}");
    assert!(!listed.contains(&admin[5..25]));
}
