//! A small blocking connection pool: at most `max` connections, idle ones
//! reused (checked with a round trip when they sat idle, so a restarted
//! server costs no failed request), broken ones dropped, new ones opened on
//! demand. A caller waits up to [`WAIT`] for a free connection.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{self, SslMode, TlsSettings};
use super::{describe, pg_error};
use crate::store::StoreError;

/// Longest wait for a free connection.
const WAIT: Duration = Duration::from_secs(10);
/// Time to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections older than this are checked before use.
const CHECK_AFTER: Duration = Duration::from_secs(1);

struct Slots {
    idle: Vec<(Client, Instant)>,
    /// Connections handed out.
    busy: usize,
}

pub struct Pool {
    config: Config,
    tls: MakeRustlsConnect,
    sslmode: SslMode,
    max: usize,
    slots: Mutex<Slots>,
    freed: Condvar,
}

/// A pooled connection, returned to the pool when dropped.
pub struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Present until drop.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let mut s = self.pool.lock();
        s.busy = s.busy.saturating_sub(1);
        if let Some(c) = self.client.take()
            && !c.is_closed()
        {
            s.idle.push((c, Instant::now()));
        }
        drop(s);
        self.pool.freed.notify_one();
    }
}

impl Pool {
    /// A pool for `config`; fails if the TLS settings' root certificates
    /// cannot be read.
    pub fn new(mut config: Config, settings: &TlsSettings, max: usize) -> Result<Pool, StoreError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("tudi");
        Ok(Pool {
            config,
            tls: tls::connector(settings)?,
            sslmode: settings.mode,
            max: max.max(1),
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                busy: 0,
            }),
            freed: Condvar::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        match self.slots.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Opens a connection outside the pool (listeners, long readers).
    pub fn connect(&self) -> Result<Client, StoreError> {
        self.config
            .connect(self.tls.clone())
            .map_err(|e| match pg_error(e) {
                StoreError::Unavailable(m) => {
                    let hint = if m.contains("certificate") {
                        format!(
                            " (sslmode={}: the server's certificate is not trusted; check \
                             sslrootcert= and, for verify-full, that it names the host)",
                            self.sslmode.as_str()
                        )
                    } else if m.contains("TLS") || m.contains("tls") {
                        format!(" (sslmode={})", self.sslmode.as_str())
                    } else {
                        String::new()
                    };
                    StoreError::Unavailable(format!(
                        "cannot connect to {}: {m}{hint}",
                        describe(&self.config)
                    ))
                }
                other => other,
            })
    }

    /// A connection: an idle one that still works, else a new one.
    pub fn get(&self) -> Result<Conn<'_>, StoreError> {
        let deadline = Instant::now() + WAIT;
        let mut s = self.lock();
        while s.busy >= self.max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Unavailable(format!(
                    "all {} database connections are busy",
                    self.max
                )));
            }
            s = match self.freed.wait_timeout(s, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        s.busy += 1;
        let mut idle = std::mem::take(&mut s.idle);
        drop(s);
        // From here on the slot is ours; `Conn` gives it back.
        let mut conn = Conn {
            pool: self,
            client: None,
        };
        while let Some((mut c, since)) = idle.pop() {
            if c.is_closed() {
                continue;
            }
            if since.elapsed() > CHECK_AFTER && c.is_valid(CONNECT_TIMEOUT).is_err() {
                continue;
            }
            conn.client = Some(c);
            break;
        }
        if !idle.is_empty() {
            self.lock().idle.append(&mut idle);
        }
        if conn.client.is_none() {
            conn.client = Some(self.connect()?);
        }
        Ok(conn)
    }
}
