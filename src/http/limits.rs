//! Limits on what one request or one client may consume, besides the body
//! size caps of each route:
//!
//! * [`guard`]: refuses compressed request bodies (`Content-Encoding`,
//!   `415`), stops waiting for a request body that stalls
//!   ([`ServerConfig::body_idle_timeout`], `408`, connection closed) and
//!   bounds the time to a response head ([`ServerConfig::request_timeout`];
//!   uploads and batch reviews get [`ServerConfig::long_request_timeout`];
//!   `503` with `Retry-After`);
//! * [`rate_limit`]: a token bucket per client (the API key's id, else the
//!   peer address; IPv6 by /64), `429` with `Retry-After`; `/health` and
//!   `/metrics` are exempt; at most [`MAX_CLIENTS`] buckets are kept;
//! * [`Limits::render_slot`]: at most [`ServerConfig::max_renders`] tiles
//!   are cut at once; a request waits up to [`ServerConfig::render_wait`]
//!   for a slot, then `503` with `Retry-After`;
//! * [`json_errors`]: what axum answers by itself (a path or query that does
//!   not parse, a wrong method) becomes the API's JSON error, so no error
//!   is ever a text or HTML page echoing the request.
//!
//! Slow headers (slowloris) are cut off by hyper's header read timeout,
//! set up in [`super::serve`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use super::state::{AppState, ServerConfig};
use crate::auth::Caller;

/// Most clients whose rate buckets are remembered. Beyond it, buckets that
/// have refilled are forgotten first; if every bucket is in use the table
/// starts afresh (memory stays bounded, at worst a client gets a new burst).
pub const MAX_CLIENTS: usize = 100_000;

/// Most bytes of a non-JSON error body read to turn it into JSON.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Render slots and rate buckets, shared by every request.
pub struct Limits {
    renders: Arc<Semaphore>,
    render_wait: Duration,
    pub(super) rate: RateLimiter,
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl Limits {
    pub fn new(config: &ServerConfig) -> Limits {
        Limits {
            renders: Arc::new(Semaphore::new(config.max_renders.max(1))),
            render_wait: config.render_wait,
            rate: RateLimiter::new(config.rate_per_s, config.rate_burst),
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    /// Takes a token from an anonymous caller's bucket (what
    /// [`rate_limit`] does for a request without a key); false when the
    /// bucket is empty (nothing taken).
    /// The client's address for rate limiting: the peer's, or, when the
    /// peer is a trusted proxy, the rightmost address of `X-Forwarded-For`
    /// that is not itself a trusted proxy (each proxy appends the address
    /// it was sent the request from; what the client wrote on the left is
    /// not trusted). A hop that is not an address stops the walk at the
    /// last trusted one.
    pub fn client_ip(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let trusted = |ip: IpAddr| self.trusted_proxies.iter().any(|n| n.contains(&ip));
        // An IPv4 peer of a dual-stack listener arrives as `::ffff:a.b.c.d`.
        let peer = peer.to_canonical();
        if !trusted(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|v| v.to_str().unwrap_or("").rsplit(','));
        let mut client = peer;
        for hop in hops {
            match hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
                Ok(ip) if trusted(ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => break,
            }
        }
        client
    }

    pub fn allow_anonymous(&self, ip: std::net::IpAddr) -> bool {
        !self.rate.enabled() || self.rate.check(Client::of_ip(ip), Instant::now()).is_ok()
    }

    /// A slot to cut one tile; hold it until the render is done (move it
    /// into the blocking task, so an abandoned request does not free it
    /// early). `503` with `Retry-After` when every slot stays busy for the
    /// configured wait.
    pub async fn render_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        let busy = || {
            ApiError::Unavailable(
                "the server is busy cutting other tiles; retry in a moment".into(),
            )
        };
        if let Ok(p) = self.renders.clone().try_acquire_owned() {
            return Ok(p);
        }
        match tokio::time::timeout(self.render_wait, self.renders.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) | Err(_) => Err(busy()),
        }
    }

    /// Tile renders running now.
    pub fn renders_in_use(&self, max: usize) -> usize {
        max.max(1).saturating_sub(self.renders.available_permits())
    }
}

/// Whom a rate bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// An API key, by its public id.
    Key(String),
    /// An anonymous caller, by address (IPv6: its /64 network).
    Ip(IpAddr),
    /// Keys that were not known, by the address that sent them (its own
    /// bucket: a flood of made-up keys is refused before they are looked
    /// up, and never uses up the address's anonymous or keyed requests).
    UnknownKeys(IpAddr),
}

impl Client {
    pub fn of_ip(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V4(_) => Client::Ip(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::Ip(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    Client::Ip(IpAddr::V6(bits.into()))
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per client: `per_s` tokens a second up to `burst`; a
/// request takes one.
pub struct RateLimiter {
    per_s: f64,
    burst: f64,
    clients: Mutex<HashMap<Client, Bucket>>,
}

impl RateLimiter {
    /// `per_s <= 0` (or not finite) turns limiting off.
    pub fn new(per_s: f64, burst: u32) -> RateLimiter {
        RateLimiter {
            per_s: if per_s.is_finite() {
                per_s.max(0.0)
            } else {
                0.0
            },
            burst: f64::from(burst.max(1)),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.per_s > 0.0
    }

    /// Tokens a second, and the most a bucket holds.
    pub fn rate(&self) -> (f64, f64) {
        (self.per_s, self.burst)
    }

    /// Takes a token for `client`, or says in how many whole seconds one
    /// will be there.
    pub fn check(&self, client: Client, now: Instant) -> Result<(), u64> {
        self.take(client, now, 1.0)
    }

    /// Whether `client` has a token, without taking it.
    pub fn peek(&self, client: Client, now: Instant) -> Result<(), u64> {
        self.take(client, now, 0.0)
    }

    fn take(&self, client: Client, now: Instant, cost: f64) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let mut map = match self.clients.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if map.len() >= MAX_CLIENTS && !map.contains_key(&client) {
            let (per_s, burst) = (self.per_s, self.burst);
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_s < burst
            });
            if map.len() >= MAX_CLIENTS {
                map.clear();
            }
        }
        let b = map.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_s).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= cost;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / self.per_s).ceil();
            Err(if wait.is_finite() {
                wait.max(1.0) as u64
            } else {
                1
            })
        }
    }

    /// Clients remembered now.
    pub fn clients(&self) -> usize {
        match self.clients.lock() {
            Ok(g) => g.len(),
            Err(p) => p.into_inner().len(),
        }
    }
}

/// Routes that receive large bodies and do long work: uploads and batch
/// reviews get [`ServerConfig::long_request_timeout`].
pub fn is_long(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    path == "/api/layers"
        || path == "/api/reviews/batch"
        || (path.starts_with("/api/layers/") && path.ends_with("/versions"))
}

/// Whether the request says it has no body.
fn has_no_body(req: &Request) -> bool {
    req.body().size_hint().exact() == Some(0)
}

/// The error a stalled body stream ends with.
#[derive(Debug, thiserror::Error)]
#[error("no request body data for {0:?}")]
struct BodyStalled(Duration);

/// Wraps `body` so that a wait of more than `idle` for its next piece ends
/// it with an error and sets `fired`.
fn idle_timeout_body(body: Body, idle: Duration, fired: Arc<AtomicBool>) -> Body {
    let stream = body.into_data_stream();
    let s = futures_util::stream::unfold(Some(stream), move |state| {
        let fired = fired.clone();
        async move {
            let mut stream = state?;
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(stream))),
                Ok(Some(Err(e))) => Some((Err(axum::BoxError::from(e)), None)),
                Ok(None) => None,
                Err(_) => {
                    fired.store(true, Ordering::Release);
                    Some((Err(axum::BoxError::from(BodyStalled(idle))), None))
                }
            }
        }
    });
    Body::from_stream(s)
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{} s", s.round())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Per-request limits and safe defaults; see the module docs.
pub async fn guard(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if let Some(ce) = req.headers().get(header::CONTENT_ENCODING) {
        let identity = ce
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("identity") || v.trim().is_empty());
        if !identity {
            return finish(
                &st,
                &path,
                ApiError::UnsupportedMediaType(
                    "compressed request bodies (Content-Encoding) are not accepted; \
                     send the body uncompressed (zip archives are uploads, not encodings)"
                        .into(),
                )
                .into_response(),
            );
        }
    }
    let long = is_long(req.method(), &path);
    let cfg = &st.config;
    let fired = Arc::new(AtomicBool::new(false));
    let req = match cfg.body_idle_timeout {
        Some(idle) if !has_no_body(&req) => req.map(|b| idle_timeout_body(b, idle, fired.clone())),
        _ => req,
    };
    let limit = if long {
        cfg.long_request_timeout
    } else {
        cfg.request_timeout
    };
    let resp = match limit {
        Some(d) => match tokio::time::timeout(d, next.run(req)).await {
            Ok(r) => r,
            Err(_) => {
                let extra = if long && path.starts_with("/api/layers") {
                    "; the publish may still complete: see GET /api/layers/{id}/versions"
                } else {
                    ""
                };
                ApiError::Unavailable(format!(
                    "the request took longer than the limit of {}{extra}",
                    secs(d)
                ))
                .into_response()
            }
        },
        None => next.run(req).await,
    };
    let resp = if fired.load(Ordering::Acquire) {
        let idle = cfg.body_idle_timeout.unwrap_or_default();
        ApiError::Timeout(format!(
            "the request body stalled: nothing arrived for {}",
            secs(idle)
        ))
        .into_response()
    } else {
        resp
    };
    finish(&st, &path, resp)
}

/// Content-Security-Policy of HTML answers that set none (the review
/// report): no script at all, inline styles and data images only.
const HTML_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// Whether an answer carries links made from the request's `Host` and
/// `X-Forwarded-*` headers (catalog, TileJSON, styles).
fn has_derived_links(path: &str) -> bool {
    path == "/catalog"
        || path.starts_with("/styles/")
        || path
            .strip_prefix("/tiles/")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// Headers every answer carries: `nosniff`; on HTML without a policy a
/// script-free Content-Security-Policy (so even a missed escape cannot run
/// script); `no-store` on API answers that did not choose their caching
/// (they may hold keys, names, verdicts); and, when links are built from
/// the request's host headers (no `--public-url`), `Vary` on those headers
/// so a shared cache never serves one client's links to another.
pub(super) fn finish(st: &AppState, path: &str, mut resp: Response) -> Response {
    let h = resp.headers_mut();
    if st.config.public_url.is_none() && has_derived_links(path) {
        let vary: Vec<String> = h
            .get_all(header::VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect();
        let missing: Vec<&str> = ["host", "x-forwarded-host", "x-forwarded-proto"]
            .into_iter()
            .filter(|name| !vary.iter().any(|v| v == name))
            .collect();
        if !missing.is_empty()
            && let Ok(v) = HeaderValue::from_str(&missing.join(", "))
        {
            h.append(header::VARY, v);
        }
    }
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        h.entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(HTML_CSP));
    }
    if path.starts_with("/api/") {
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    resp
}

/// Routes never rate limited: probes and scrapers.
fn exempt(path: &str) -> bool {
    path == "/health" || path == "/metrics"
}

/// Per-client token bucket (runs after authentication, so a key's bucket
/// follows the key across addresses).
pub async fn rate_limit(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let limiter = &st.limits.rate;
    if !limiter.enabled() || exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let client = match req
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.key_id.clone())
    {
        Some(id) => Some(Client::Key(id)),
        None => req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| Client::of_ip(st.limits.client_ip(ci.0.ip(), req.headers()))),
    };
    // No peer address (the router used without `serve`): nothing to key on.
    let Some(client) = client else {
        return next.run(req).await;
    };
    match limiter.check(client, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(retry_after_s) => ApiError::TooManyRequests {
            message: format!(
                "too many requests: the limit is {} per second (bursts of {}); retry after {retry_after_s} s",
                limiter.per_s, limiter.burst
            ),
            retry_after_s,
        }
        .into_response(),
    }
}

/// Turns an error answer that is not JSON (axum's own rejections: a path
/// or query that does not parse, a method not allowed) into the API's JSON
/// error, keeping its status and `Allow`.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(b) => String::from_utf8_lossy(&b)
            .chars()
            .take(300)
            .collect::<String>(),
        Err(_) => String::new(),
    };
    let text = if text.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(text),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(text),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(text),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(text),
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout(text),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Invalid {
            message: text,
            problems: Vec::new(),
        },
        s if s.is_server_error() => ApiError::Internal(text),
        _ => ApiError::BadRequest(text),
    };
    let mut out = err.into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_the_rate() {
        let r = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        let c = || Client::Ip("10.0.0.1".parse().expect("ip"));
        for _ in 0..3 {
            assert!(r.check(c(), t0).is_ok());
        }
        assert_eq!(r.check(c(), t0), Err(1));
        // Another client has its own bucket.
        assert!(r.check(Client::Key("k_1".into()), t0).is_ok());
        // Half a second later one token is back.
        let t1 = t0 + Duration::from_millis(500);
        assert!(r.check(c(), t1).is_ok());
        assert!(r.check(c(), t1).is_err());
    }

    #[test]
    fn slow_rates_say_how_long_to_wait() {
        let r = RateLimiter::new(0.1, 1);
        let t0 = Instant::now();
        let c = Client::Key("k".into());
        assert!(r.check(c.clone(), t0).is_ok());
        assert_eq!(r.check(c, t0), Err(10));
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let limits = |trusted: &[&str]| {
            Limits::new(&ServerConfig {
                trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
                ..ServerConfig::default()
            })
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let xff = |vals: &[&str]| {
            let mut h = axum::http::HeaderMap::new();
            for v in vals {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            h
        };
        let none = limits(&[]);
        let proxy = limits(&["127.0.0.1/32", "10.0.0.0/8"]);
        let h = xff(&["203.0.113.7"]);
        // Not trusted: the header is ignored.
        assert_eq!(none.client_ip(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        assert_eq!(proxy.client_ip(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        // From a trusted proxy: the rightmost untrusted hop.
        assert_eq!(proxy.client_ip(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        assert_eq!(
            proxy.client_ip(ip("::ffff:127.0.0.1"), &h),
            ip("203.0.113.7")
        );
        let chain = xff(&["1.2.3.4, 203.0.113.7", "10.1.1.1"]);
        assert_eq!(proxy.client_ip(ip("127.0.0.1"), &chain), ip("203.0.113.7"));
        // Only trusted hops, or none: the last trusted one.
        assert_eq!(
            proxy.client_ip(ip("127.0.0.1"), &xff(&["10.2.2.2"])),
            ip("10.2.2.2")
        );
        assert_eq!(proxy.client_ip(ip("127.0.0.1"), &xff(&[])), ip("127.0.0.1"));
        // A hop that is not an address stops the walk.
        assert_eq!(
            proxy.client_ip(ip("127.0.0.1"), &xff(&["203.0.113.7, junk, 10.3.3.3"])),
            ip("10.3.3.3")
        );
    }

    #[test]
    fn zero_rate_is_off() {
        let r = RateLimiter::new(0.0, 1);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(r.check(Client::Key("k".into()), t0).is_ok());
        }
        assert_eq!(r.clients(), 0);
    }

    #[test]
    fn memory_stays_bounded() {
        let r = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            let _ = r.check(Client::of_ip(ip), t0);
        }
        assert!(r.clients() <= MAX_CLIENTS, "{}", r.clients());
    }

    #[test]
    fn ipv6_clients_are_their_64() {
        let a = Client::of_ip("2001:db8:1:2::1".parse().expect("ip"));
        let b = Client::of_ip("2001:db8:1:2:ffff::9".parse().expect("ip"));
        let c = Client::of_ip("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mapped = Client::of_ip("::ffff:10.1.2.3".parse().expect("ip"));
        assert_eq!(mapped, Client::Ip("10.1.2.3".parse().expect("ip")));
    }

    #[test]
    fn links_from_host_headers() {
        assert!(has_derived_links("/catalog"));
        assert!(has_derived_links("/styles/land-review"));
        assert!(has_derived_links("/tiles/roads,zoning"));
        assert!(!has_derived_links("/tiles/roads/1/2/3"));
        assert!(!has_derived_links("/health"));
    }

    #[test]
    fn long_routes() {
        assert!(is_long(&Method::POST, "/api/layers"));
        assert!(is_long(&Method::POST, "/api/layers/roads/versions"));
        assert!(is_long(&Method::POST, "/api/reviews/batch"));
        assert!(!is_long(&Method::GET, "/api/layers/roads/versions"));
        assert!(!is_long(&Method::POST, "/api/reviews"));
        assert!(!is_long(&Method::GET, "/tiles/roads/1/1/1"));
    }

    #[tokio::test]
    async fn render_slots_wait_then_refuse() {
        let config = ServerConfig {
            max_renders: 1,
            render_wait: Duration::from_millis(50),
            ..ServerConfig::default()
        };
        let limits = Limits::new(&config);
        let held = limits.render_slot().await.expect("first slot");
        assert_eq!(limits.renders_in_use(1), 1);
        let started = Instant::now();
        let e = limits.render_slot().await.expect_err("saturated");
        assert!(started.elapsed() >= Duration::from_millis(45));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        // A slot freed while waiting is taken.
        let waiter = async { limits.render_slot().await };
        let release = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(held);
        };
        let (got, ()) = tokio::join!(waiter, release);
        assert!(got.is_ok());
    }
}
