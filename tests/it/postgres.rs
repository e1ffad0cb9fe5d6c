//! Several instances on one PostgreSQL/PostGIS (`--store postgres://...`),
//! driven through the real binary: a publish or rollback on one instance is
//! served by the other within 2 s; reviews on both form one verifying
//! chain; a database restart during traffic keeps tiles at 200 and answers
//! reviews 503 until it is back; `kill -9` of an instance mid-write leaves
//! the database consistent; instances starting together on a fresh
//! database record each bootstrap layer once. Each test runs its own private cluster
//! (`pg_support`); skipped with a message when PostgreSQL/PostGIS is not
//! installed, unless `TUDI_PG_TESTS=required` (`.ci/run`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::pg_support::{Instance, PgCluster, admin_key};

/// A tile of a public layer with features (the district boundary).
const TILE: &str = "/tiles/district_boundary/12/3333/1779";

fn square(x0: f64, size: f64) -> String {
    json!({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"n": 1, "name": "甲\t乙"},
        "geometry": {"type": "Polygon", "coordinates": [[[x0, 23.0], [x0 + size, 23.0],
            [x0 + size, 23.01], [x0, 23.01], [x0, 23.0]]]}}]})
    .to_string()
}

fn review_body(i: usize) -> String {
    let d = 0.0001 * (i % 50) as f64;
    let (x, y) = (112.95 + d, 22.93);
    json!({"plot": {"type": "Polygon", "coordinates": [[[x, y], [x + 0.0001, y],
            [x + 0.0001, y + 0.0001], [x, y + 0.0001], [x, y]]]},
        "applicant": {"household_id": format!("H{i}"), "name": "测试"},
        "application": {"terrain_class": "plain", "floors": 2, "floor_area_m2": 100}})
    .to_string()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The version tag in the layer's TileJSON (`None`: not served).
async fn served_tag(c: &reqwest::Client, base: &str, layer: &str) -> Option<String> {
    let r = c.get(format!("{base}/tiles/{layer}")).send().await.ok()?;
    if r.status() != 200 {
        return None;
    }
    let tj: Value = r.json().await.ok()?;
    let url = tj["tiles"][0].as_str()?;
    url.split("?v=").nth(1).map(str::to_string)
}

/// Waits until `base` serves `layer` at a tag starting with `version.`;
/// the time it took.
async fn wait_for_version(c: &reqwest::Client, base: &str, layer: &str, version: u64) -> Duration {
    let start = Instant::now();
    let want = format!("{version}.");
    loop {
        if served_tag(c, base, layer)
            .await
            .is_some_and(|t| t.starts_with(&want))
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{base} never served {layer} v{version}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(c: &reqwest::Client, url: String, key: &str, body: String) -> (u16, Value) {
    let r = c
        .post(url)
        .bearer_auth(key)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

async fn verify(c: &reqwest::Client, base: &str, key: &str) -> Value {
    c.get(format!("{base}/api/audit/verify"))
        .bearer_auth(key)
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json")
}

/// `tudi audit verify --store ...` exits 0 and counts `entries`.
fn cli_verify(pg: &PgCluster, entries: u64) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["audit", "verify", "--store", &pg.url()])
        .output()
        .expect("tudi audit verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let v: Value = serde_json::from_str(&text).expect("report");
    assert_eq!(v["entries"], entries, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_publishes_and_one_audit_chain() {
    let Some(pg) = PgCluster::start("two_instances_share_publishes_and_one_audit_chain") else {
        return;
    };
    let a = tokio::task::block_in_place(|| Instance::start(&pg));
    let b = tokio::task::block_in_place(|| Instance::start(&pg));
    let key = tokio::task::block_in_place(|| admin_key(&pg));
    let c = client();

    // A new layer published on A is served by B within 2 s.
    let (s, v) = post(
        &c,
        format!(
            "{}/api/layers?id=parcels_new&title=New&category=Test",
            a.base
        ),
        &key,
        square(113.1, 0.01),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let t = wait_for_version(&c, &b.base, "parcels_new", 1).await;
    eprintln!("publish on A served by B after {t:?}");
    assert!(t < Duration::from_secs(2), "propagation took {t:?}");
    assert_eq!(
        served_tag(&c, &a.base, "parcels_new").await,
        served_tag(&c, &b.base, "parcels_new").await,
        "both instances serve the same version tag"
    );
    // A new version on B reaches A; a rollback on A reaches B.
    let (s, v) = post(
        &c,
        format!("{}/api/layers/parcels_new/versions", b.base),
        &key,
        square(113.1, 0.02),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let t = wait_for_version(&c, &a.base, "parcels_new", 2).await;
    eprintln!("publish on B served by A after {t:?}");
    assert!(t < Duration::from_secs(2), "propagation took {t:?}");
    let (s, v) = post(
        &c,
        format!("{}/api/layers/parcels_new/rollback", a.base),
        &key,
        String::new(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let t = wait_for_version(&c, &b.base, "parcels_new", 1).await;
    eprintln!("rollback on A served by B after {t:?}");
    assert!(
        t < Duration::from_secs(2),
        "rollback propagation took {t:?}"
    );
    // B answers tiles of the layer (no 5xx) after the swaps.
    let r = c
        .get(format!("{}/tiles/parcels_new/14/13335/7116", b.base))
        .send()
        .await
        .expect("tile");
    assert!(r.status() == 200 || r.status() == 204, "{}", r.status());

    // The version is an ordinary PostGIS table GDAL reads.
    if std::process::Command::new("ogr2ogr")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("ogr2ogr")
            .args(["-f", "GeoJSON", "/vsistdout/"])
            .arg(format!("PG:{}", pg.libpq()))
            .arg("tudi_layers.parcels_new_v2")
            .output()
            .expect("ogr2ogr");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fc: Value = serde_json::from_str(&text).expect("GeoJSON");
        assert_eq!(fc["features"].as_array().map(Vec::len), Some(1), "{text}");
        assert_eq!(fc["features"][0]["properties"]["name"], "甲\t乙");
    } else {
        eprintln!("ogr2ogr not installed: PostGIS table read-back not checked");
    }

    // Attribute names a PostGIS column cannot carry as they are: 422
    // naming the field, nothing written; the longest allowed name (63
    // bytes) and `Geom` (not `geom`) are columns under their own names.
    let with_field = |name: &str| {
        json!({"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {name: 1, "n": 2},
            "geometry": {"type": "Point", "coordinates": [113.1, 23.0]}}]})
        .to_string()
    };
    let long = "x".repeat(64);
    for (name, says) in [
        ("geom", "`geom`"),
        ("tudi_fid", "`tudi_fid`"),
        (long.as_str(), "64 bytes"),
    ] {
        let (s, v) = post(
            &c,
            format!("{}/api/layers?id=names&title=Names&category=Test", a.base),
            &key,
            with_field(name),
        )
        .await;
        assert_eq!(s, 422, "field {name}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "field {name}: {v}");
    }
    let tables = tokio::task::block_in_place(|| {
        pg.psql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'tudi_layers' AND (tablename LIKE 'names%' OR tablename LIKE 'pending%')")
    });
    assert_eq!(tables, "", "tables written for refused uploads");
    let cjk63 = "地".repeat(21);
    let body = json!({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {cjk63.as_str(): "ok", "Geom": 3},
        "geometry": {"type": "Point", "coordinates": [113.1, 23.0]}}]})
    .to_string();
    let (s, v) = post(
        &c,
        format!("{}/api/layers?id=names&title=Names&category=Test", a.base),
        &key,
        body,
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let cols = tokio::task::block_in_place(|| {
        pg.psql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'tudi_layers' AND table_name = 'names_v1'")
    });
    assert!(
        cols.contains(&cjk63) && cols.contains("Geom"),
        "columns: {cols}"
    );

    // Concurrent reviews on both instances: one chain, no fork, no gap.
    let n_each = 40;
    let mut tasks = Vec::new();
    for (w, base) in [&a.base, &b.base, &a.base, &b.base].into_iter().enumerate() {
        let (c, base, key) = (c.clone(), base.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..n_each {
                let (s, v) = post(
                    &c,
                    format!("{base}/api/reviews"),
                    &key,
                    review_body(w * 1000 + i),
                )
                .await;
                assert_eq!(s, 201, "{v}");
                ids.push(v["id"].as_str().expect("id").to_string());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.expect("reviews"));
    }
    assert_eq!(ids.len(), 4 * n_each);
    for base in [&a.base, &b.base] {
        let v = verify(&c, base, &key).await;
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["entries"], ids.len() as u64, "{v}");
    }
    // Every review is readable through either instance.
    for id in ids.iter().step_by(7) {
        for base in [&a.base, &b.base] {
            let r = c
                .get(format!("{base}/api/reviews/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 200);
        }
    }
    tokio::task::block_in_place(|| cli_verify(&pg, ids.len() as u64));
    // A delete on B stops A serving the layer within 2 s.
    let r = c
        .delete(format!("{}/api/layers/parcels_new", b.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);
    let start = Instant::now();
    while served_tag(&c, &a.base, "parcels_new").await.is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "A still serves a layer deleted on B"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for inst in [&a, &b] {
        assert!(!inst.log_text().contains("s3cret"), "password in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_restart_during_traffic() {
    let Some(pg) = PgCluster::start("database_restart_during_traffic") else {
        return;
    };
    let a = tokio::task::block_in_place(|| Instance::start(&pg));
    let key = tokio::task::block_in_place(|| admin_key(&pg));
    let c = client();
    let (s, v) = post(&c, format!("{}/api/reviews", a.base), &key, review_body(1)).await;
    assert_eq!(s, 201, "{v}");
    let mut acked = vec![v["id"].as_str().expect("id").to_string()];
    let health = |c: reqwest::Client, base: String| async move {
        let r = c
            .get(format!("{base}/health"))
            .send()
            .await
            .expect("health");
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.expect("health json"))
    };
    let (s, h) = health(c.clone(), a.base.clone()).await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["store"]["kind"], "postgres", "{h}");
    assert_eq!(h["store"]["ok"], true, "{h}");

    // Tiles all along, from memory.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tiles = {
        let (c, base, stop) = (c.clone(), a.base.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut bad) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = c.get(format!("{base}{TILE}")).send().await.expect("tile");
                if r.status() == 200 {
                    ok += 1;
                } else {
                    bad.push(r.status().as_u16());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (ok, bad)
        })
    };
    tokio::task::block_in_place(|| pg.down());
    // Reviews and publishes: 503 with a JSON message, nothing acknowledged.
    tokio::time::sleep(Duration::from_millis(2500)).await; // past the key cache
    for i in 0..5 {
        let (s, v) = post(&c, format!("{}/api/reviews", a.base), &key, review_body(i)).await;
        assert_eq!(s, 503, "{v}");
        assert_eq!(v["error"], "unavailable", "{v}");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("database")),
            "{v}"
        );
    }
    let (s, v) = post(
        &c,
        format!("{}/api/layers?id=while_down&title=W&category=T", a.base),
        &key,
        square(113.1, 0.01),
    )
    .await;
    assert_eq!(s, 503, "{v}");
    // /health stays 200 (tiles are served) and says the database is down.
    let start = Instant::now();
    loop {
        let (s, h) = health(c.clone(), a.base.clone()).await;
        assert_eq!(s, 200, "{h}");
        if h["store"]["ok"] == false {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "/health still reports the database ok: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::task::block_in_place(|| pg.up());
    // Reviews resume on their own.
    let start = Instant::now();
    loop {
        let (s, v) = post(&c, format!("{}/api/reviews", a.base), &key, review_body(9)).await;
        if s == 201 {
            acked.push(v["id"].as_str().expect("id").to_string());
            break;
        }
        assert_eq!(s, 503, "{v}");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "reviews did not resume"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..10 {
        let (s, v) = post(
            &c,
            format!("{}/api/reviews", a.base),
            &key,
            review_body(20 + i),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        acked.push(v["id"].as_str().expect("id").to_string());
    }
    let start = Instant::now();
    loop {
        let (s, h) = health(c.clone(), a.base.clone()).await;
        assert_eq!(s, 200, "{h}");
        if h["store"]["ok"] == true {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "/health does not see the database back: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, bad) = tiles.await.expect("tiles");
    assert!(bad.is_empty(), "tile answers other than 200: {bad:?}");
    assert!(ok > 20, "only {ok} tiles");
    let v = verify(&c, &a.base, &key).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["entries"], acked.len() as u64, "{v}");
    // The publish refused while down left nothing behind.
    let r = c
        .get(format!("{}/tiles/while_down", a.base))
        .send()
        .await
        .expect("tilejson");
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instance_killed_mid_write_leaves_the_database_consistent() {
    let Some(pg) = PgCluster::start("instance_killed_mid_write_leaves_the_database_consistent")
    else {
        return;
    };
    let mut a = tokio::task::block_in_place(|| Instance::start(&pg));
    let b = tokio::task::block_in_place(|| Instance::start(&pg));
    let key = tokio::task::block_in_place(|| admin_key(&pg));
    let c = client();
    // Reviews (and a publish) in flight on A when it is killed.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (c, base, key, acked) = (c.clone(), a.base.clone(), key.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let r = c
                    .post(format!("{base}/api/reviews"))
                    .bearer_auth(&key)
                    .body(review_body(w * 10_000 + i))
                    .send()
                    .await;
                let Ok(r) = r else { break };
                if r.status() != 201 {
                    break;
                }
                let Ok(v) = r.json::<Value>().await else {
                    break;
                };
                if let Some(id) = v["id"].as_str()
                    && let Ok(mut g) = acked.lock()
                {
                    g.push(id.to_string());
                }
            }
        }));
    }
    let publish = {
        let (c, base, key) = (c.clone(), a.base.clone(), key.clone());
        tokio::spawn(async move {
            let _ = c
                .post(format!("{base}/api/layers?id=killed&title=K&category=T"))
                .bearer_auth(&key)
                .body(square(113.1, 0.01))
                .send()
                .await;
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill9();
    for t in tasks {
        let _ = t.await;
    }
    let _ = publish.await;
    let acked = acked.lock().map(|g| g.clone()).unwrap_or_default();
    assert!(
        acked.len() > 5,
        "only {} reviews before the kill",
        acked.len()
    );
    // Every acknowledged review is in the chain, which verifies.
    let v = verify(&c, &b.base, &key).await;
    assert_eq!(v["ok"], true, "{v}");
    assert!(
        v["entries"].as_u64().unwrap_or(0) >= acked.len() as u64,
        "{v}"
    );
    for id in &acked {
        // Hundreds of reviews are acknowledged in 1.5 s on a fast machine,
        // more than B's default rate limit lets one key read back at once:
        // a 429 is waited out (its Retry-After), not taken for a loss.
        let mut status = reqwest::StatusCode::TOO_MANY_REQUESTS;
        for _ in 0..50 {
            let r = c
                .get(format!("{}/api/reviews/{id}", b.base))
                .bearer_auth(&key)
                .send()
                .await
                .expect("get");
            status = r.status();
            if status != reqwest::StatusCode::TOO_MANY_REQUESTS {
                break;
            }
            let wait = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait.clamp(1, 5))).await;
        }
        assert_eq!(status, 200, "acknowledged review {id} lost ({status})");
    }
    // The catalog is consistent: B still publishes and reviews, and the
    // chain goes on from the same head.
    let (s, v) = post(
        &c,
        format!("{}/api/layers?id=after_kill&title=A&category=T", b.base),
        &key,
        square(113.2, 0.01),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(&c, format!("{}/api/reviews", b.base), &key, review_body(7)).await;
    assert_eq!(s, 201, "{v}");
    let v = verify(&c, &b.base, &key).await;
    assert_eq!(v["ok"], true, "{v}");
    // A restarted instance loads the current versions, PostGIS ones included.
    let a2 = tokio::task::block_in_place(|| Instance::start(&pg));
    assert_eq!(
        served_tag(&c, &a2.base, "after_kill").await,
        served_tag(&c, &b.base, "after_kill").await
    );
    let v = verify(&c, &a2.base, &key).await;
    assert_eq!(v["ok"], true, "{v}");
}

/// `tudi audit verify --store url`: (exit ok, stdout + stderr).
fn cli_verify_url(url: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["audit", "verify", "--store", url])
        .output()
        .expect("tudi audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// TLS to PostgreSQL: the cluster accepts TCP clients over TLS only
/// (`hostssl`), with a certificate for `localhost` from a private CA.
/// `sslmode=require` serves a review; `verify-full` with the CA works by
/// name and fails for `127.0.0.1` (not in the certificate), `verify-ca`
/// accepts it; a wrong root stops `tudi serve` at start-up with a message;
/// `pg_stat_ssl` shows every connection of the instances encrypted; a role
/// that must log in with a client certificate connects with `sslcert` and
/// `sslkey` and is refused without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_to_postgres() {
    let Some(pg) = PgCluster::start_with("tls_to_postgres", true) else {
        return;
    };
    let ca = pg.ca_cert().display().to_string();
    let other = pg.other_ca_cert().display().to_string();
    let at = |host: &str, query: &str| {
        format!(
            "postgres://postgres:s3cret-pw@{host}:{}/postgres?{query}",
            pg.port
        )
    };
    let c = client();

    // Without TLS the server refuses (so the checks below can fail).
    let err =
        tokio::task::block_in_place(|| Instance::start_fails(&at("127.0.0.1", "sslmode=disable")));
    assert!(err.contains("no encryption"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");

    let a =
        tokio::task::block_in_place(|| Instance::start_url(&at("127.0.0.1", "sslmode=require")));
    let b = tokio::task::block_in_place(|| {
        Instance::start_url(&at(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ))
    });
    let key = tokio::task::block_in_place(|| admin_key(&pg));
    let (s, v) = post(&c, format!("{}/api/reviews", a.base), &key, review_body(1)).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(&c, format!("{}/api/reviews", b.base), &key, review_body(2)).await;
    assert_eq!(s, 201, "{v}");
    let v = verify(&c, &b.base, &key).await;
    assert_eq!(v["ok"], true, "{v}");
    assert!(
        a.log_text().contains("sslmode=\"require\"") || a.log_text().contains("sslmode=require"),
        "{}",
        a.log_text()
    );

    // Every connection of the two instances (pools and listeners) is TLS.
    let stats = tokio::task::block_in_place(|| {
        pg.psql(
            "SELECT count(*) || ' ' || count(*) FILTER (WHERE s.ssl) \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = 'tudi' AND a.client_addr IS NOT NULL",
        )
    });
    let (all, tls) = stats.split_once(' ').expect("two counts");
    let all: u32 = all.parse().expect("count");
    assert!(all >= 2, "tudi connections: {stats}");
    assert_eq!(all.to_string(), tls, "connections (all, TLS): {stats}");

    // verify-ca accepts the certificate at an address it does not name;
    // verify-full does not.
    let (ok, text) = tokio::task::block_in_place(|| {
        cli_verify_url(&at(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        ))
    });
    assert!(ok, "{text}");
    let (ok, text) = tokio::task::block_in_place(|| {
        cli_verify_url(&at(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ))
    });
    assert!(!ok && text.contains("certificate"), "{text}");

    // The wrong root: start-up fails and says why.
    let err = tokio::task::block_in_place(|| {
        Instance::start_fails(&at(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={other}"),
        ))
    });
    eprintln!("verify-full with the wrong root: {err}");
    assert!(
        err.contains("certificate") && err.contains("sslrootcert"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    // A root file that does not exist is named.
    let err = tokio::task::block_in_place(|| {
        Instance::start_fails(&at(
            "localhost",
            "sslmode=verify-full&sslrootcert=/nonexistent/root.crt",
        ))
    });
    assert!(err.contains("/nonexistent/root.crt"), "{err}");

    // Client certificates: `certuser` must present one signed by the CA.
    let (crt, key) = pg.client_cert();
    let as_certuser = |query: String| {
        format!(
            "postgres://certuser@localhost:{}/postgres?sslmode=verify-full&sslrootcert={ca}{query}",
            pg.port
        )
    };
    let with_cert = format!("&sslcert={}&sslkey={}", crt.display(), key.display());
    let (ok, text) = tokio::task::block_in_place(|| cli_verify_url(&as_certuser(with_cert)));
    assert!(ok, "with a client certificate: {text}");
    let (ok, text) = tokio::task::block_in_place(|| cli_verify_url(&as_certuser(String::new())));
    assert!(!ok, "without a client certificate: {text}");
    let (ok, text) = tokio::task::block_in_place(|| {
        cli_verify_url(&as_certuser(format!(
            "&sslcert={}&sslkey=/nonexistent/client.key",
            crt.display()
        )))
    });
    assert!(!ok && text.contains("/nonexistent/client.key"), "{text}");
}

/// Two instances started at the same moment on a fresh database both find
/// the bundled layers unrecorded and record them: each layer has one
/// version all the same (the second recording of the same file and content
/// is the first one's version). The catalog's own check, without the
/// timing: two stores adding the same bootstrap version get one version.
#[tokio::test(flavor = "multi_thread")]
async fn instances_starting_together_record_each_bootstrap_layer_once() {
    use tudi::store::Catalog;
    use tudi::store::catalog::{EventKind, NewVersion, Origin};
    let Some(pg) = PgCluster::start("instances_starting_together_record_each_bootstrap_layer_once")
    else {
        return;
    };
    let (a, b) = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let a = s.spawn(|| Instance::start(&pg));
            let b = s.spawn(|| Instance::start(&pg));
            (a.join().expect("a"), b.join().expect("b"))
        })
    });
    let c = client();
    for base in [&a.base, &b.base] {
        let r = c.get(format!("{base}{TILE}")).send().await.expect("tile");
        assert_eq!(r.status(), 200);
    }
    let layers = pg.psql("SELECT count(DISTINCT layer) FROM tudi.versions");
    assert!(layers.parse::<u32>().expect("count") >= 17, "{layers}");
    let repeated = pg.psql(
        "SELECT string_agg(layer || ' x' || n, ', ') FROM \
         (SELECT layer, count(*) AS n FROM tudi.versions GROUP BY layer HAVING count(*) > 1) t",
    );
    assert_eq!(repeated, "", "layers recorded more than once");

    let (x, y) = tokio::task::block_in_place(|| {
        let x = tudi::store::pg::open(&pg.url(), 2).expect("store x");
        let y = tudi::store::pg::open(&pg.url(), 2).expect("store y");
        (x, y)
    });
    let v = NewVersion {
        file: "/srv/layers/extra.geojson".into(),
        format: "geojson".into(),
        crs: "EPSG:4326".into(),
        axis_order: "auto".into(),
        sha256: "ab".repeat(32),
        features: 1,
        bytes: 10,
        origin: Origin::Bootstrap,
        created_by: None,
        report: None,
        note: None,
        fields: vec![],
    };
    tokio::task::block_in_place(|| {
        x.catalog
            .create_layer("extra", Origin::Bootstrap, "")
            .expect("layer");
        let vx = x
            .catalog
            .add_version("extra", &v, EventKind::Bootstrap)
            .expect("x");
        let vy = y
            .catalog
            .add_version("extra", &v, EventKind::Bootstrap)
            .expect("y");
        assert_eq!((vx.version, vy.version), (1, 1));
        assert_eq!(x.catalog.versions("extra").expect("versions").len(), 1);
    });
}
