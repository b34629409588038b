//! The pool of SQLite reader connections.
//!
//! Reads run on a blocking thread (`spawn_blocking`) so rusqlite never stalls the async
//! runtime. In WAL mode readers never wait for the writer and see the last committed
//! state. A connection is returned to the pool by a drop guard, so it comes back even
//! when the read panics or the awaiting future is cancelled.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::{Result, StoreError};

pub(super) struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(super) fn new(connections: Vec<Connection>) -> Self {
        Readers {
            permits: Arc::new(Semaphore::new(connections.len())),
            idle: Mutex::new(connections),
        }
    }

    /// Runs `f` on an idle reader connection, waiting for one if all are busy.
    pub(super) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Database("sqlite reader pool closed".into()))?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let lease = Lease::take(pool)?;
            f(lease.conn())
        })
        .await
        .map_err(|e| StoreError::Database(format!("sqlite read task failed: {e}")))?
    }
}

/// A connection taken from the pool, returned on drop.
struct Lease {
    pool: Arc<Readers>,
    conn: Option<Connection>,
}

impl Lease {
    fn take(pool: Arc<Readers>) -> Result<Self> {
        let conn = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match conn {
            Some(conn) => {
                // A read that panicked inside its read transaction must not leave the
                // connection pinned to an old snapshot.
                if !conn.is_autocommit() {
                    conn.execute_batch("ROLLBACK")?;
                }
                Ok(Lease {
                    pool,
                    conn: Some(conn),
                })
            }
            // Unreachable while permits equal connections; reported rather than assumed.
            None => Err(StoreError::Database(
                "no idle sqlite reader connection".into(),
            )),
        }
    }

    fn conn(&self) -> &Connection {
        // Set in `take`, cleared only in `drop`.
        self.conn
            .as_ref()
            .expect("lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}
