//! Authentication middleware and role checks.
//!
//! [`authenticate`] runs on every request: no `Authorization` header makes
//! an anonymous [`Caller`]; `Bearer <key>` is looked up (by its SHA-256) in
//! the catalog and becomes a caller with the key's role; anything else, an
//! unknown or a revoked key is `401`. Lookups are cached for
//! [`KEY_CACHE_TTL`], so a revoked key stops working within that time.
//! Unknown keys are rate limited per address, in a bucket of their own
//! ([`Client::UnknownKeys`]): each one answered `401` takes a token, and
//! once the bucket is empty further keys that would need a lookup are
//! refused with `429` before the catalog is asked. A flood of made-up keys
//! otherwise cost a catalog lookup each and passed the rate limit, which
//! keys a caller by its key only once the key is known.
//! [`require`] guards a group of routes with a minimum role.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::limits::Client;
use super::state::AppState;
use crate::auth::{Caller, Role, hash_key, plausible_key};

/// How long a key lookup is trusted.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);

/// Most cached key lookups (a flood of distinct keys only costs lookups).
const KEY_CACHE_MAX: usize = 10_000;

/// A looked-up key: its role and id, or `None` if unknown; and when.
type Lookup = (Option<(Role, String)>, Instant);

/// Recently looked-up keys by hash.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Lookup>>,
}

impl KeyCache {
    fn get(&self, hash: &str) -> Option<Option<(Role, String)>> {
        let map = match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(v, _)| v.clone())
    }

    fn put(&self, hash: String, v: Option<(Role, String)>) {
        let mut map = match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if map.len() >= KEY_CACHE_MAX {
            map.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
            if map.len() >= KEY_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(hash, (v, Instant::now()));
    }

    /// Forgets every lookup (after a key is revoked through this server).
    pub fn clear(&self) {
        match self.entries.lock() {
            Ok(mut g) => g.clear(),
            Err(p) => p.into_inner().clear(),
        }
    }
}

/// Resolves the caller and stores it in the request's extensions.
pub async fn authenticate(
    State(st): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    // Only the header crosses the await (a request body is not `Sync`).
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map(str::to_string));
    // Only a request with a key can need its unknown-key bucket: no
    // `X-Forwarded-For` walk for the anonymous ones.
    let ip = header.as_ref().and_then(|_| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| st.limits.client_ip(ci.0.ip(), req.headers()))
    });
    let caller = match caller_of(&st, header, ip).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

async fn caller_of(
    st: &Arc<AppState>,
    header: Option<Result<String, axum::http::header::ToStrError>>,
    ip: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let Some(value) = header else {
        return Ok(Caller::anonymous());
    };
    let value =
        value.map_err(|_| ApiError::Unauthorized("the Authorization header is not text".into()))?;
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Err(ApiError::Unauthorized(
            "use `Authorization: Bearer <API key>`".into(),
        ));
    };
    let token = token.trim();
    if !plausible_key(token) {
        return Err(ApiError::Unauthorized(
            "the API key is malformed (expected `tudi_` and 40 hex digits)".into(),
        ));
    }
    let Some(catalog) = st.catalog.clone() else {
        return Err(ApiError::Unauthorized(
            "this server has no key store; API keys are not accepted".into(),
        ));
    };
    let hash = hash_key(token);
    let found = match st.keys.get(&hash) {
        Some(v) => v,
        None => {
            unknown_keys(st, ip, false)?;
            let h = hash.clone();
            let row = tokio::task::spawn_blocking(move || catalog.key_by_hash(&h))
                .await
                .map_err(|e| ApiError::Internal(format!("key lookup task: {e}")))?
                .map_err(|e| ApiError::Unavailable(format!("key store unavailable: {e}")))?;
            let v = row.map(|k| (k.role, k.id));
            st.keys.put(hash, v.clone());
            v
        }
    };
    match found {
        Some((role, id)) => Ok(Caller::with_role(role, id)),
        None => {
            unknown_keys(st, ip, true)?;
            Err(ApiError::Unauthorized("unknown or revoked API key".into()))
        }
    }
}

/// The unknown-key bucket of the address `ip`: a token taken (`take`) or
/// only looked for; `429` when it is empty (nothing without an address or
/// a rate limit).
fn unknown_keys(st: &AppState, ip: Option<IpAddr>, take: bool) -> Result<(), ApiError> {
    let limiter = &st.limits.rate;
    let Some(Client::Ip(ip)) = ip.filter(|_| limiter.enabled()).map(Client::of_ip) else {
        return Ok(());
    };
    let (client, now) = (Client::UnknownKeys(ip), Instant::now());
    let left = if take {
        limiter.check(client, now)
    } else {
        limiter.peek(client, now)
    };
    left.map_err(|retry_after_s| {
        let (per_s, burst) = limiter.rate();
        ApiError::TooManyRequests {
            message: format!(
                "too many requests with keys that are not known here: the limit is {per_s} \
                     per second (bursts of {burst}) per address; retry after {retry_after_s} s"
            ),
            retry_after_s,
        }
    })
}

/// Checks that the caller holds `min`: `401` when anonymous, `403` when the
/// key's role is too low.
pub fn check(caller: &Caller, min: Role) -> Result<(), ApiError> {
    match caller.role {
        None => Err(ApiError::Unauthorized(format!(
            "this needs an API key with the {min} role"
        ))),
        Some(r) if r < min => Err(ApiError::Forbidden(format!(
            "this needs the {min} role; the key has {r}"
        ))),
        Some(_) => Ok(()),
    }
}

/// Route-layer middleware: the caller must hold `min`.
pub async fn require(min: Role, req: Request, next: Next) -> Response {
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_default();
    match check(&caller, min) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
