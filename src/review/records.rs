//! Rules on the application and the ownership records: `area_cap` (plot
//! area by terrain class), `attribute_limits` (floors, floor area) and
//! `one_household` (一户一宅, with the 建新拆旧 exception and the
//! transferred-house refusal).

use std::collections::BTreeMap;

use geo::MapCoords;

use super::cache::value_key;
use super::eval::{Ctx, EPS_M2, attributes, finding, num, round, unmeasurable};
use super::rules::{AppField, Limit, Predicate, Rule};
use super::verdict::{Check, FeatureRef, Finding, Outcome};
use crate::crs::mercator_to_lonlat;

/// `area_cap`: plot area `<=` the cap of the declared terrain class.
pub(crate) fn area_cap(ctx: &mut Ctx<'_>, rule: &Rule, caps: &BTreeMap<String, f64>) -> Finding {
    let plot = match &ctx.plot {
        Ok(p) => p,
        Err(why) => return unmeasurable(rule, "m2", why),
    };
    let terrain = &ctx.req.application.terrain_class;
    let area = plot.area_m2;
    let Some(&cap) = caps.get(terrain) else {
        let known: Vec<&str> = caps.keys().map(String::as_str).collect();
        let mut f = finding(
            rule,
            Outcome::Manual,
            "m2",
            format!(
                "地形类别 `{terrain}` 未配置面积上限，需人工审核；terrain class `{terrain}` has no cap configured (known: {}): needs a person; plot area {} m²",
                known.join(", "),
                num(area)
            ),
        );
        f.measured = Some(round(area, 4));
        return f;
    };
    let ok = area <= cap + EPS_M2;
    let status = if ok { Outcome::Pass } else { rule.severity };
    let message = if ok {
        format!(
            "宅基地面积 {} m²，未超过 {terrain} 上限 {} m²；plot area {} m² is within the {} m² cap for `{terrain}`",
            num(area),
            num(cap),
            num(area),
            num(cap)
        )
    } else {
        format!(
            "宅基地面积 {} m²，超过 {terrain} 上限 {} m²（超出 {} m²）；plot area {} m² exceeds the {} m² cap for `{terrain}` by {} m²",
            num(area),
            num(cap),
            num(area - cap),
            num(area),
            num(cap),
            num(area - cap)
        )
    };
    let mut f = finding(rule, status, "m2", message);
    f.measured = Some(round(area, 4));
    f.threshold = Some(cap);
    f
}

/// `attribute_limits`: every declared value within its limit.
pub(crate) fn attribute_limits(ctx: &mut Ctx<'_>, rule: &Rule, limits: &[Limit]) -> Finding {
    let app = &ctx.req.application;
    let mut checks = Vec::new();
    let mut parts = Vec::new();
    for l in limits {
        let v = match l.field {
            AppField::Floors => f64::from(app.floors),
            AppField::FloorAreaM2 => app.floor_area_m2,
        };
        let ok = if l.inclusive { v <= l.max } else { v < l.max };
        let status = if !v.is_finite() || v < 0.0 {
            Outcome::Manual
        } else if ok {
            Outcome::Pass
        } else {
            rule.severity
        };
        let cmp = if l.inclusive { "<=" } else { "<" };
        parts.push(format!(
            "{} = {} ({cmp} {}: {})",
            l.field.name(),
            num(v),
            num(l.max),
            status.as_str()
        ));
        checks.push(Check {
            field: l.field.name().to_string(),
            status,
            measured: v,
            threshold: l.max,
            comparison: cmp,
            unit: l.field.unit(),
        });
    }
    let status = Outcome::combine(checks.iter().map(|c| c.status));
    let decisive = checks.iter().find(|c| c.status == status);
    let unit = decisive.map_or("", |c| c.unit);
    let message = format!(
        "申报指标{}；declared values: {}",
        status.zh(),
        parts.join(", ")
    );
    let mut f = finding(rule, status, unit, message);
    if let Some(c) = decisive {
        f.measured = Some(c.measured);
        f.threshold = Some(c.threshold);
    }
    f.checks = checks;
    f
}

/// `one_household`: the household holds no other approved or registered
/// homestead (the one it returns under 建新拆旧 excepted) and has not sold,
/// rented or given away its house.
pub(crate) fn one_household(ctx: &mut Ctx<'_>, rule: &Rule) -> Finding {
    let Predicate::OneHousehold {
        layer: parcels_id,
        household_field,
        parcel_field,
        status_field,
        statuses,
        households_layer,
        households_key,
        transferred_field,
    } = &rule.predicate
    else {
        return finding(
            rule,
            Outcome::Manual,
            "count",
            "internal: not a one_household rule".into(),
        );
    };
    let parcels = ctx.layer(parcels_id);
    let households = ctx.layer(households_layer);
    let (Some(parcels), Some(households)) = (parcels, households) else {
        let missing: Vec<&str> = [
            (parcels_id, parcels.is_none()),
            (households_layer, households.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(id, _)| id.as_str())
        .collect();
        return super::eval::missing_layer(rule, "count", &missing.join(", "));
    };
    let hid = ctx.req.applicant.household_id.as_str();
    let replaced = ctx.req.application.replaces_parcel.as_deref();
    let cache = &ctx.rules.cache;
    let (Some(by_hh), Some(hh_rows)) = (
        cache.by_value(parcels, household_field),
        cache.by_value(households, households_key),
    ) else {
        return finding(
            rule,
            Outcome::Manual,
            "count",
            format!(
                "图层数据缺少 {household_field} / {households_key} 属性，需人工审核；the loaded data lacks `{household_field}` or `{households_key}`: needs a person"
            ),
        );
    };
    let key = |layer: &crate::layer::Layer, f: &crate::layer::Feature, field: &str| {
        layer
            .field_index(field)
            .and_then(|i| layer.prop(f, i))
            .and_then(value_key)
    };
    let mut others = Vec::new();
    let mut returned = None;
    for &i in by_hh.get(hid) {
        let Some(f) = parcels.features.get(i as usize) else {
            continue;
        };
        if !key(parcels, f, status_field).is_some_and(|s| statuses.contains(&s)) {
            continue;
        }
        if replaced.is_some() && key(parcels, f, parcel_field).as_deref() == replaced {
            returned = Some(f);
        } else {
            others.push(f);
        }
    }
    let rows: Vec<_> = hh_rows
        .get(hid)
        .iter()
        .filter_map(|&i| households.features.get(i as usize))
        .collect();
    let transferred = rows.iter().find_map(|f| {
        key(households, f, transferred_field)
            .filter(|t| {
                let t = t.trim();
                !t.is_empty() && !t.eq_ignore_ascii_case("null") && !t.eq_ignore_ascii_case("none")
            })
            .map(|t| (*f, t))
    });
    let count = others.len();
    let (status, reason) = if let Some((_, how)) = &transferred {
        (
            rule.severity,
            format!(
                "该户已将住宅{}（{how}），不得再申请宅基地；the household has transferred its house ({how}) and may not apply again",
                match how.as_str() {
                    "sold" => "出卖",
                    "rented" => "出租",
                    "gifted" => "赠与",
                    _ => "转让",
                }
            ),
        )
    } else if count > 0 {
        let codes: Vec<String> = others
            .iter()
            .filter_map(|f| key(parcels, f, parcel_field))
            .collect();
        (
            rule.severity,
            format!(
                "该户已有 {count} 宗宅基地（{}），违反一户一宅；the household already holds {count} homestead(s) ({}): one household, one homestead",
                codes.join(", "),
                codes.join(", ")
            ),
        )
    } else if let (Some(r), None) = (replaced, returned) {
        (
            Outcome::Manual,
            format!(
                "申请拆旧退还的宗地 {r} 不在该户名下的已批/已登记宅基地中，需人工核实；the parcel {r} to be returned is not an approved/registered homestead of this household: needs a person"
            ),
        )
    } else if rows.is_empty() {
        (
            Outcome::Manual,
            format!(
                "户籍底册中无户号 {hid}，需人工核实；household {hid} is not in the household register: needs a person"
            ),
        )
    } else if let Some(r) = replaced {
        (
            Outcome::Pass,
            format!(
                "该户现有宅基地 {r} 将拆旧退还（建新拆旧），无其他宅基地；the household's only homestead {r} will be returned (build new, demolish old)"
            ),
        )
    } else {
        (
            Outcome::Pass,
            "该户无已批或已登记宅基地；the household holds no approved or registered homestead"
                .to_string(),
        )
    };
    let mut f = finding(rule, status, "count", reason);
    f.measured = Some(count as f64);
    f.threshold = Some(0.0);
    let fields: Vec<&str> = rule
        .report
        .iter()
        .map(String::as_str)
        .chain([parcel_field.as_str(), status_field.as_str()])
        .collect();
    let to_lonlat = |g: &geo::Geometry| {
        g.map_coords(|c| {
            let (x, y) = mercator_to_lonlat(c.x, c.y);
            geo::Coord { x, y }
        })
    };
    for p in &others {
        f.features.push(parcel_ref(
            parcels_id,
            p.id,
            attributes(parcels, p, fields.iter().copied()),
            rule.severity,
        ));
        f.conflicts.push(to_lonlat(&parcels.geometry(p)));
    }
    if let Some(p) = returned {
        f.features.push(parcel_ref(
            parcels_id,
            p.id,
            attributes(parcels, p, fields.iter().copied()),
            Outcome::Pass,
        ));
    }
    if let Some((h, _)) = transferred {
        let attrs = attributes(
            households,
            h,
            [households_key.as_str(), transferred_field.as_str()],
        );
        f.features
            .push(parcel_ref(households_layer, h.id, attrs, rule.severity));
    }
    f
}

fn parcel_ref(
    layer: &str,
    id: u64,
    attributes: BTreeMap<String, serde_json::Value>,
    status: Outcome,
) -> FeatureRef {
    FeatureRef {
        layer: layer.to_string(),
        id,
        attributes,
        status,
        overlap_m2: None,
        overlap_ratio: None,
        distance_m: None,
        required_m: None,
    }
}
