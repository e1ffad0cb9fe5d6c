//! The printable review report: an HTML page (Chinese with English
//! subtitles) with a server-drawn SVG map and the findings table, rendered
//! from a stored review record. Every value from the record is HTML-escaped.

pub mod svg;

use std::fmt::Write;

use serde_json::Value;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 => format!("{f:.2}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn outcome_label(o: &str) -> (&'static str, &'static str) {
    match o {
        "pass" => ("通过", "Pass"),
        "fail" => ("不通过", "Fail"),
        "manual" => ("需人工审核", "Manual review"),
        _ => ("未知", "Unknown"),
    }
}

/// The whole page.
pub fn render_html(record: &Value) -> String {
    let outcome = record["outcome"].as_str().unwrap_or("");
    let (zh, en) = outcome_label(outcome);
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>宅基地审查报告 {id}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}}
h1{{font-size:22px;margin:0}} .en{{color:#666;font-size:0.85em;font-weight:normal}}
table{{border-collapse:collapse;width:100%;margin:12px 0;font-size:13px}} td,th{{border:1px solid #bbb;padding:4px 6px;vertical-align:top;text-align:left}}
th{{background:#f0f0ea}} .pass{{color:#1a7f37}} .fail{{color:#c62828;font-weight:bold}} .manual{{color:#b26a00;font-weight:bold}}
.outcome{{font-size:20px;margin:8px 0}} .hash{{font-family:monospace;font-size:11px;word-break:break-all}}
@media print{{body{{margin:0}} .noprint{{display:none}}}}
</style></head><body>
<h1>宅基地用地审查报告 <span class="en">Homestead Plot Review Report</span></h1>
<p class="outcome">审查结论 <span class="en">Outcome</span>: <span class="{cls}">{zh} <span class="en">{en}</span></span></p>
"#,
        id = esc(&text(&record["id"])),
        cls = esc(outcome),
    );
    let applicant = &record["input"]["applicant"];
    let app = &record["input"]["application"];
    let rows: Vec<(&str, &str, String)> = vec![
        ("审查编号", "Review id", text(&record["id"])),
        ("审查时间", "Reviewed at (UTC)", text(&record["created_at"])),
        ("申请户", "Household", text(&applicant["household_id"])),
        ("申请人", "Applicant", text(&applicant["name"])),
        ("地形类别", "Terrain class", text(&app["terrain_class"])),
        (
            "层数 / 建筑面积",
            "Floors / floor area m²",
            format!("{} / {}", text(&app["floors"]), text(&app["floor_area_m2"])),
        ),
        ("拆旧宗地", "Parcel returned", text(&app["replaces_parcel"])),
        (
            "用地面积",
            "Plot area",
            format!(
                "{} m² ({})",
                text(&record["plot_area_m2"]),
                text(&record["crs"])
            ),
        ),
        (
            "规则集",
            "Rule set",
            format!(
                "{} v{} ({})",
                text(&record["ruleset"]["id"]),
                text(&record["ruleset"]["version"]),
                text(&record["ruleset"]["hash"])
            ),
        ),
    ];
    h.push_str("<table>");
    for (zh, en, v) in rows {
        let _ = write!(
            h,
            r#"<tr><th>{zh} <span class="en">{en}</span></th><td>{}</td></tr>"#,
            esc(&v)
        );
    }
    let layers: Vec<String> = record["layers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} @ {}", text(v)))
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        h,
        r#"<tr><th>图层版本 <span class="en">Layer versions</span></th><td>{}</td></tr>"#,
        esc(&layers.join(", "))
    );
    let _ = write!(
        h,
        r#"<tr><th>输入摘要 <span class="en">Input SHA-256</span></th><td class="hash">{}</td></tr><tr><th>审计哈希 <span class="en">Audit entry hash</span></th><td class="hash">{} (#{})</td></tr></table>"#,
        esc(&text(&record["input_sha256"])),
        esc(&text(&record["entry_hash"])),
        esc(&text(&record["seq"]))
    );
    h.push_str(r#"<h2>位置图 <span class="en">Map</span></h2>"#);
    h.push_str(&svg::render(record));
    h.push_str(
        r#"<p class="en">Blue: the plot. Red: conflicts that fail a rule; orange: conflicts that need a person; dashed: nearest distance to a feature with its length. Grid north of the CGCS2000 Gauss-Krüger zone.</p>"#,
    );
    h.push_str(r#"<h2>审查明细 <span class="en">Findings</span></h2><table><tr><th>规则 <span class="en">Rule</span></th><th>结果 <span class="en">Status</span></th><th>测量值 <span class="en">Measured</span></th><th>阈值 <span class="en">Threshold</span></th><th>相关要素 <span class="en">Features</span></th><th>依据 <span class="en">Legal basis</span></th><th>说明 <span class="en">Message</span></th></tr>"#);
    for f in record["findings"].as_array().into_iter().flatten() {
        let status = f["status"].as_str().unwrap_or("");
        let (szh, sen) = outcome_label(status);
        let unit = f["unit"].as_str().unwrap_or("");
        let feats: Vec<String> = f["features"]
            .as_array()
            .into_iter()
            .flatten()
            .take(8)
            .map(|fr| {
                let mut s = format!("{}#{}", text(&fr["layer"]), text(&fr["id"]));
                if let Some(d) = fr["distance_m"].as_f64() {
                    let _ = write!(s, " {d:.1} m");
                }
                if let Some(a) = fr["overlap_m2"].as_f64() {
                    let _ = write!(s, " {a:.1} m²");
                }
                s
            })
            .collect();
        let _ = write!(
            h,
            r#"<tr><td>{} <span class="en">{}</span></td><td class="{}">{szh} <span class="en">{sen}</span></td><td>{} {}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&text(&f["title"])),
            esc(&text(&f["rule"])),
            esc(status),
            esc(&text(&f["measured"])),
            esc(unit),
            esc(&text(&f["threshold"])),
            esc(unit),
            esc(&feats.join("; ")),
            esc(&text(&f["basis"])),
            esc(&text(&f["message"])),
        );
    }
    h.push_str(r#"</table><p class="en">Generated by tudi. The audit entry hash chains this verdict to every earlier one; verify with <code>tudi audit verify</code> or GET /api/audit/verify.</p><p class="noprint"><button onclick="window.print()">打印 Print</button></p></body></html>"#);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hostile_values_are_escaped() {
        let rec = json!({
            "id": "rv_1", "outcome": "fail",
            "input": {"applicant": {"household_id": "<script>alert(1)</script>", "name": "\"><img src=x>"}},
            "findings": [{"rule": "r", "title": "<b>", "status": "fail", "message": "a & b"}],
            "plot_lonlat": {"type": "MultiPolygon", "coordinates": []}
        });
        let html = render_html(&rec);
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<img src=x>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("a &amp; b"));
        assert!(html.contains("不通过"));
    }
}
