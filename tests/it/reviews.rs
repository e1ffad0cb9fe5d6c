//! The review API on the bundled fixtures: labelled applications get the
//! expected outcome and rule statuses, bad plots get a 422 listing every
//! problem, verdicts are audited, re-runnable and printable.

use serde_json::{Value, json};

use tudi::auth::Role;

use super::support::{fixtures_server, get_as, key, repo};

fn applications() -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join("fixtures/small/applications.geojson"))
        .expect("applications fixture");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["features"].as_array().expect("features").clone()
}

fn request(f: &Value) -> Value {
    json!({"plot": f["geometry"], "applicant": f["properties"]["applicant"],
           "application": f["properties"]["application"]})
}

async fn post(path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", fixtures_server().base))
        .bearer_auth(key(Role::Approver))
        .json(body)
        .send()
        .await
        .expect("post")
}

/// Checks one verdict against the generator's label; returns mismatches.
fn mismatches(label: &Value, verdict: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let case = label["case"].as_str().unwrap_or("?");
    if verdict["outcome"] != label["expect_outcome"] {
        out.push(format!(
            "{case}: outcome {} != {}",
            verdict["outcome"], label["expect_outcome"]
        ));
    }
    let expect = label["expect_rules"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for f in verdict["findings"].as_array().expect("findings") {
        let rule = f["rule"].as_str().expect("rule");
        let want = expect.get(rule).and_then(Value::as_str).unwrap_or("pass");
        if f["status"].as_str() != Some(want) {
            out.push(format!(
                "{case}: rule {rule} is {} (expected {want}): {}",
                f["status"], f["message"]
            ));
        }
    }
    out
}

#[tokio::test]
async fn single_review_is_complete_audited_and_printable() {
    let apps = applications();
    let clean = apps
        .iter()
        .find(|f| f["properties"]["label"]["expect_outcome"] == "pass")
        .expect("a clean application");
    let r = post("/api/reviews", &request(clean)).await;
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let v: Value = r.json().await.expect("json");
    for key in [
        "id",
        "outcome",
        "plot_area_m2",
        "findings",
        "ruleset",
        "layers",
        "input_sha256",
        "created_at",
        "entry_hash",
    ] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    assert_eq!(
        v["findings"].as_array().expect("findings").len(),
        13,
        "every rule reported"
    );
    assert_eq!(v["ruleset"]["id"], "homestead");
    assert_eq!(v["ruleset"]["hash"].as_str().expect("hash").len(), 64);
    assert!(
        mismatches(&clean["properties"]["label"], &v).is_empty(),
        "{:?}",
        mismatches(&clean["properties"]["label"], &v)
    );
    let id = v["id"].as_str().expect("id");
    assert_eq!(loc, format!("/api/reviews/{id}"));

    let again: Value = get_as(
        &format!("{}/api/reviews/{id}", fixtures_server().base),
        Role::Approver,
    )
    .await
    .json()
    .await
    .expect("get");
    assert_eq!(again, v);

    let html = get_as(
        &format!("{}/api/reviews/{id}/report", fixtures_server().base),
        Role::Approver,
    )
    .await
    .text()
    .await
    .expect("report");
    assert!(html.contains("宅基地用地审查报告") && html.contains("Homestead Plot Review Report"));
    assert!(html.contains("<svg") && html.contains("N 北"));
    assert!(html.contains(id));

    let rr = post(&format!("/api/reviews/{id}/rerun"), &json!({})).await;
    assert_eq!(rr.status(), 201);
    assert_eq!(rr.headers()["x-same-outcome"], "true");
    let rv: Value = rr.json().await.expect("json");
    assert_eq!(rv["rerun_of"], id);
    assert_eq!(rv["input_sha256"], v["input_sha256"]);

    let ver: Value = get_as(
        &format!("{}/api/audit/verify", fixtures_server().base),
        Role::Approver,
    )
    .await
    .json()
    .await
    .expect("verify");
    assert_eq!(ver["ok"], true, "{ver}");
}

#[tokio::test]
async fn batch_finds_every_labelled_violation() {
    let text = std::fs::read_to_string(repo().join("fixtures/small/applications.geojson"))
        .expect("fixture");
    let r = reqwest::Client::new()
        .post(format!("{}/api/reviews/batch", fixtures_server().base))
        .bearer_auth(key(Role::Approver))
        .header("content-type", "application/geo+json")
        .body(text)
        .send()
        .await
        .expect("batch");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let body = r.text().await.expect("ndjson");
    let apps = applications();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(lines.len(), apps.len());
    let mut bad = Vec::new();
    for line in &lines {
        let i = line["index"].as_u64().expect("index") as usize;
        assert!(line["error"].is_null(), "{line}");
        bad.extend(mismatches(&apps[i]["properties"]["label"], line));
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // Every rule id of GUIDE section 2 is exercised by some failing or manual label.
    let mut seen = std::collections::BTreeSet::new();
    for a in &apps {
        for k in a["properties"]["label"]["expect_rules"]
            .as_object()
            .into_iter()
            .flatten()
        {
            seen.insert(k.0.clone());
        }
    }
    assert!(seen.len() >= 13, "labels cover {seen:?}");
}

#[tokio::test]
async fn bad_plots_get_422_with_every_problem() {
    let apps = applications();
    let base = request(&apps[0]);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"type": "Point", "coordinates": [113.0, 23.0]}),
            "not a Polygon",
        ),
        (
            json!({"type": "Polygon", "coordinates": [[[112.95, 22.9], [112.951, 22.901], [112.951, 22.9], [112.95, 22.901], [112.95, 22.9]]]}),
            "invalid polygon",
        ),
        (
            json!({"type": "Polygon", "coordinates": [[[100.0, 10.0], [100.001, 10.0], [100.001, 10.001], [100.0, 10.0]]]}),
            "outside the district",
        ),
        (
            json!({"type": "Polygon", "coordinates": [[[112.95, 22.9], [112.951, 22.9], [112.952, 22.9], [112.95, 22.9]]]}),
            "zero area",
        ),
    ];
    for (plot, needle) in cases {
        let mut body = base.clone();
        body["plot"] = plot;
        let r = post("/api/reviews", &body).await;
        assert_eq!(r.status(), 422, "{needle}");
        let v: Value = r.json().await.expect("json");
        let all = v["problems"].to_string();
        assert!(all.contains(needle), "{needle} not in {all}");
    }
    // Several problems at once are all listed.
    let r = post(
        "/api/reviews",
        &json!({"plot": {"type": "Polygon"}, "applicant": {}, "application": {"floors": -1}}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["problems"].as_array().expect("problems").len() >= 4,
        "{v}"
    );
    // Malformed JSON.
    let r = reqwest::Client::new()
        .post(format!("{}/api/reviews", fixtures_server().base))
        .bearer_auth(key(Role::Approver))
        .header("content-type", "application/json")
        .body("{\"plot\": [")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    // Vertex cap.
    let n = 3000;
    let ring: Vec<Value> = (0..=n)
        .map(|i| {
            let a = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
            json!([112.95 + 0.0005 * a.cos(), 22.9 + 0.0005 * a.sin()])
        })
        .collect();
    let mut body = base.clone();
    body["plot"] = json!({"type": "Polygon", "coordinates": [ring]});
    let r = post("/api/reviews", &body).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("body").contains("cap"));
}

#[tokio::test]
async fn unknown_review_is_404() {
    let r = get_as(
        &format!("{}/api/reviews/rv_nope", fixtures_server().base),
        Role::Approver,
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn oversized_review_body_is_413_json() {
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = reqwest::Client::new()
        .post(format!("{}/api/reviews", fixtures_server().base))
        .bearer_auth(key(Role::Approver))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.expect("json error body");
    assert!(
        v["message"].as_str().expect("message").contains("limit"),
        "{v}"
    );
}
