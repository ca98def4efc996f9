//! What the report form needs from the database (is set-up done, the recovery public key,
//! who may be excluded), kept in memory: the form page is served without a database round
//! trip, and it still opens while the database is down, so nobody loses a report they have
//! not even started. Refreshed in the background when older than [`FRESH`], so a change
//! made by another instance shows within that time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::features::routing;
use crate::settings::RoutingSettings;
use crate::storage::{DbResult, Store};

/// How long a snapshot is served before it is refreshed.
pub const FRESH: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct FormSnapshot {
    /// The organisation's recovery public key; `None` until set-up is done.
    pub recovery_public: Option<[u8; 32]>,
    /// Active coordinators the reporter may exclude: (id, display name).
    pub excludables: Vec<(String, String)>,
}

struct Cached {
    at: Instant,
    snap: Arc<FormSnapshot>,
}

struct Inner {
    store: Store,
    routing: RoutingSettings,
    cached: RwLock<Option<Cached>>,
    refreshing: AtomicBool,
}

#[derive(Clone)]
pub struct FormCache(Arc<Inner>);

impl FormCache {
    pub fn new(store: Store, routing: RoutingSettings) -> FormCache {
        FormCache(Arc::new(Inner {
            store,
            routing,
            cached: RwLock::new(None),
            refreshing: AtomicBool::new(false),
        }))
    }

    /// The snapshot. A stale one is served at once while a refresh runs in the background;
    /// the database is asked inline only before set-up is done (nothing useful is cached
    /// then) or when nothing was ever loaded. Fails only then, when the database fails.
    pub async fn get(&self) -> DbResult<Arc<FormSnapshot>> {
        let current = self.current();
        match current {
            Some((at, snap)) if snap.recovery_public.is_some() => {
                if at.elapsed() >= FRESH && !self.0.refreshing.swap(true, Ordering::AcqRel) {
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = this.load().await {
                            tracing::warn!(error = %e, "could not refresh the form's settings; serving the last ones");
                        }
                        this.0.refreshing.store(false, Ordering::Release);
                    });
                }
                Ok(snap)
            }
            _ => self.load().await,
        }
    }

    /// Loads a fresh snapshot now (at start-up, and when a coordinator change in this
    /// instance must show at once).
    pub async fn load(&self) -> DbResult<Arc<FormSnapshot>> {
        let recovery_public = self.0.store.recovery_public_key().await?;
        let excludables = routing::excludable(&self.0.store, &self.0.routing).await?;
        let snap = Arc::new(FormSnapshot {
            recovery_public,
            excludables,
        });
        if let Ok(mut slot) = self.0.cached.write() {
            *slot = Some(Cached {
                at: Instant::now(),
                snap: snap.clone(),
            });
        }
        Ok(snap)
    }

    fn current(&self) -> Option<(Instant, Arc<FormSnapshot>)> {
        let slot = self.0.cached.read().ok()?;
        slot.as_ref().map(|c| (c.at, c.snap.clone()))
    }
}
