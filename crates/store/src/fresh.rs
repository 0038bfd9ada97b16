//! A value read from the database and kept in memory for a short while, shared by a store's
//! clones: the event catalog, the boxes of the boundaries. What this process changes shows
//! at once (the writer calls [`Fresh::forget`]); what another process changes, within
//! [`FRESH_FOR`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Result;

/// How long a value read from the database serves before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Fresh<T> {
    slot: Mutex<Option<(Instant, Arc<T>)>>,
    /// Counts this process's changes, so that a read which began before a change is not
    /// kept after it.
    changes: AtomicU64,
}

impl<T> Default for Fresh<T> {
    fn default() -> Self {
        Fresh {
            slot: Mutex::new(None),
            changes: AtomicU64::new(0),
        }
    }
}

impl<T> Fresh<T> {
    /// The value kept, while fresh; else `read` it, keep it and answer it.
    pub(crate) async fn get_or_read<F, Fut>(&self, read: F) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if let Ok(slot) = self.slot.lock() {
            if let Some((at, value)) = slot.as_ref() {
                if at.elapsed() < FRESH_FOR {
                    return Ok(value.clone());
                }
            }
        }
        let read_at = Instant::now();
        let changes = self.changes.load(Ordering::SeqCst);
        let value = Arc::new(read().await?);
        if let Ok(mut slot) = self.slot.lock() {
            if self.changes.load(Ordering::SeqCst) == changes {
                *slot = Some((read_at, value.clone()));
            }
        }
        Ok(value)
    }

    /// Drops the value kept, after this process changed what it was read from.
    pub(crate) fn forget(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_is_read_once_while_fresh_and_again_after_a_change() {
        let fresh: Fresh<u32> = Fresh::default();
        let reads = AtomicU64::new(0);
        let read = || async {
            Ok(u32::try_from(reads.fetch_add(1, Ordering::SeqCst)).unwrap_or(u32::MAX))
        };
        assert_eq!(*fresh.get_or_read(read).await.expect("first"), 0);
        assert_eq!(*fresh.get_or_read(read).await.expect("kept"), 0);
        fresh.forget();
        assert_eq!(*fresh.get_or_read(read).await.expect("again"), 1);
        // A read that raced with a change answers, but is not kept.
        fresh.forget();
        let racing = fresh
            .get_or_read(|| async {
                fresh.forget();
                Ok(7)
            })
            .await
            .expect("racing");
        assert_eq!(*racing, 7);
        assert_eq!(*fresh.get_or_read(read).await.expect("after"), 2);
    }
}
