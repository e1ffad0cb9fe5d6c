//! The PostgreSQL/PostGIS backend (`--store postgres://...`): several tudi
//! instances share one catalog ([`PgCatalog`]), one audit chain
//! ([`PgAudit`]) and the layer versions' features (PostGIS tables in the
//! `tudi_layers` schema, written by `publish::postgis`).
//!
//! The `postgres` client is synchronous (each connection drives its own
//! small runtime): every call happens on a blocking thread, never on the
//! async executor. Connection failures become [`StoreError::Unavailable`]
//! (HTTP 503); the connection string's password is never logged or shown
//! ([`describe`]).

mod audit;
mod catalog;
mod listen;
mod pool;
mod schema;
pub mod tls;

use std::str::FromStr;
use std::sync::Arc;

pub use audit::PgAudit;
pub use catalog::{PENDING_PREFIX, POSTGIS_PREFIX, PgCatalog, version_table};
pub use listen::{CHANNEL, Listener};
pub use pool::{Conn, Pool};

use super::StoreError;

/// Schema holding the catalog and the audit trail.
pub const SCHEMA: &str = "tudi";
/// Schema holding one table per published layer version.
pub const LAYERS_SCHEMA: &str = "tudi_layers";

/// Whether `s` names a PostgreSQL store (`postgres://`, `postgresql://`).
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A connection string without its password: `postgres://user@host:port/db`.
pub fn describe(c: &postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

/// Parses a connection string and its TLS settings (`sslmode`,
/// `sslrootcert`: see [`tls`]); the error never repeats it (it may hold a
/// password).
pub fn parse(url: &str) -> Result<(postgres::Config, tls::TlsSettings), StoreError> {
    if !is_postgres_url(url) {
        return Err(StoreError::Config(
            "--store takes a `postgres://user:password@host:port/dbname` URL".into(),
        ));
    }
    let (rest, settings) = tls::split(url)?;
    let mut config = postgres::Config::from_str(&rest)
        .map_err(|e| StoreError::Config(format!("--store connection string: {e}")))?;
    config.ssl_mode(settings.mode.client_mode());
    Ok((config, settings))
}

/// Classifies a client error: lost or refused connections (and the
/// server's shutdown codes) are `Unavailable`; unique violations are
/// `Conflict`; anything else the server reported is `Pg`.
pub fn pg_error(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
            return StoreError::Unavailable(db.message().to_string());
        }
        if code == "23505" {
            return StoreError::Conflict(db.message().to_string());
        }
        return StoreError::Pg(format!("{} ({code})", db.message()));
    }
    // The client's message ("error performing TLS handshake") names the
    // step; its sources say why ("invalid peer certificate: UnknownIssuer").
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    StoreError::Unavailable(msg)
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        pg_error(e)
    }
}

/// The three PostgreSQL stores of a server, on one pool.
pub struct PgStores {
    pub pool: Arc<Pool>,
    pub catalog: Arc<PgCatalog>,
    pub audit: Arc<PgAudit>,
}

/// Connects (pool of `max` connections), creates or migrates the schema and
/// starts the audit writer.
pub fn open(url: &str, max: usize) -> Result<PgStores, StoreError> {
    let (config, settings) = parse(url)?;
    let pool = Arc::new(Pool::new(config, &settings, max)?);
    {
        let mut c = pool.get()?;
        schema::migrate(&mut c)?;
    }
    let catalog = Arc::new(PgCatalog::new(pool.clone()));
    let audit = Arc::new(PgAudit::open(pool.clone())?);
    tracing::info!(
        store = %describe(pool.config()),
        sslmode = settings.mode.as_str(),
        connections = max,
        "PostgreSQL store"
    );
    Ok(PgStores {
        pool,
        catalog,
        audit,
    })
}
