//! Reviews against the layers as they were. A review request may carry
//! `"as_of": "2026-03-01T00:00:00Z"`: it is then evaluated with the layer
//! versions in force at that moment (from the catalog's history, see
//! [`crate::publish::history`]). A rerun uses the versions its verdict
//! recorded, loading old ones from their stored files.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::error::ApiError;
use super::state::AppState;
use crate::layer::registry::Snapshot;
use crate::review::input::Problem;

fn invalid(message: String) -> ApiError {
    ApiError::Invalid {
        message: format!("the review request has 1 problem(s): {message}"),
        problems: vec![Problem {
            field: "as_of".into(),
            message,
        }],
    }
}

/// `as_of` as the catalog's time format (UTC, milliseconds, `Z`).
fn normalise(at: &str) -> Result<String, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(at, &Rfc3339).map_err(|e| {
        invalid(format!(
            "`{}` is not an RFC 3339 date-time ({e}); e.g. 2026-03-01T00:00:00Z",
            at.chars().take(40).collect::<String>()
        ))
    })?;
    let t = t.to_offset(time::UtcOffset::UTC);
    if t > time::OffsetDateTime::now_utc() {
        return Err(invalid("is in the future".into()));
    }
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt)
        .map_err(|e| invalid(format!("cannot be represented: {e}")))
}

/// The snapshot a review request asks for with `as_of`, if it does.
pub async fn snapshot_for_request(
    st: &Arc<AppState>,
    raw: &Value,
) -> Result<Option<Arc<Snapshot>>, ApiError> {
    let Some(at) = raw.get("as_of") else {
        return Ok(None);
    };
    let at = at
        .as_str()
        .ok_or_else(|| invalid("must be a date-time string".into()))?;
    let at = normalise(at)?;
    let publisher = st.publish.clone().ok_or_else(|| {
        ApiError::Unavailable("this server keeps no layer history (no catalog)".into())
    })?;
    let at2 = at.clone();
    let snap = tokio::task::spawn_blocking(move || publisher.snapshot_as_of(&at2))
        .await
        .map_err(|e| ApiError::Internal(format!("history task: {e}")))??;
    if snap.layers.is_empty() {
        return Err(invalid(format!("no layer was published at {at}")));
    }
    Ok(Some(Arc::new(snap)))
}

/// The snapshot of exactly the versions a verdict recorded
/// (`{"layer": "version.hash"}`): `409` if one cannot be had unchanged.
pub async fn snapshot_for_tags(
    st: &Arc<AppState>,
    tags: &Map<String, Value>,
) -> Result<Arc<Snapshot>, ApiError> {
    let live = st.registry.snapshot();
    let same = tags.iter().all(|(layer, tag)| {
        live.get(layer)
            .is_some_and(|l| tag.as_str() == Some(l.version_tag().as_str()))
    });
    if same {
        return Ok(live);
    }
    let publisher = st.publish.clone().ok_or_else(|| {
        ApiError::Conflict(
            "the layers changed since this review and the server keeps no history".into(),
        )
    })?;
    let mut versions = BTreeMap::new();
    for (layer, tag) in tags {
        let n = tag
            .as_str()
            .and_then(|t| t.split('.').next())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::Conflict(format!("layer `{layer}`: unreadable version {tag}"))
            })?;
        versions.insert(layer.clone(), n);
    }
    let snap = tokio::task::spawn_blocking(move || publisher.snapshot_of(&versions))
        .await
        .map_err(|e| ApiError::Internal(format!("history task: {e}")))?
        .map_err(|e| {
            ApiError::Conflict(format!("cannot restore the layers of this review: {e}"))
        })?;
    for (layer, tag) in tags {
        let now = snap.get(layer).map(|l| l.version_tag());
        if now.as_deref() != tag.as_str() {
            return Err(ApiError::Conflict(format!(
                "layer `{layer}` version {tag} cannot be restored unchanged"
            )));
        }
    }
    Ok(Arc::new(snap))
}
