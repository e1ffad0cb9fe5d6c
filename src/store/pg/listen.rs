//! `LISTEN tudi_layers` on a connection of its own: the catalog sends
//! `NOTIFY tudi_layers, '<layer>:<version>'` in every transaction that
//! changes a layer's current version, so an instance hears of another's
//! publish or rollback as soon as it is committed.

use std::time::Duration;

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;

use super::Pool;
use crate::store::StoreError;

/// The notification channel.
pub const CHANNEL: &str = "tudi_layers";

pub struct Listener {
    client: Client,
}

impl Listener {
    /// Opens a connection and listens.
    pub fn open(pool: &Pool) -> Result<Listener, StoreError> {
        let mut client = pool.connect()?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        Ok(Listener { client })
    }

    /// Layer ids named by the notifications received within `timeout`
    /// (returns at the first one, with any others already queued). An
    /// error means the connection is lost: open a new listener.
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        {
            let mut n = self.client.notifications();
            let first = n.timeout_iter(timeout).next()?;
            if let Some(first) = first {
                out.push(layer_of(first.payload()));
                let mut rest = n.iter();
                while let Some(more) = rest.next()? {
                    out.push(layer_of(more.payload()));
                }
            }
        }
        if self.client.is_closed() {
            return Err(StoreError::Unavailable(
                "the listening connection closed".into(),
            ));
        }
        Ok(out)
    }
}

fn layer_of(payload: &str) -> String {
    payload
        .rsplit_once(':')
        .map_or(payload, |(id, _)| id)
        .to_string()
}
