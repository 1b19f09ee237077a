//! In-process registry for a single node.

#![allow(clippy::disallowed_methods)] // Expiry is checked against the clock on read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{CallState, ClusterCounts, LiveCall};

/// Calls held in a map behind a mutex; expiry is checked on read.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    calls: Arc<Mutex<HashMap<String, (LiveCall, Instant)>>>,
}

impl MemoryStore {
    /// An empty registry.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (LiveCall, Instant)>> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts
        // and removes), so a poisoned lock is still safe to use.
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn register(&self, call: &LiveCall, ttl: Duration) {
        self.lock()
            .insert(call.call_sid.clone(), (call.clone(), Instant::now() + ttl));
    }

    pub(super) fn admit(&self, call: &LiveCall, ttl: Duration, limit: Option<u64>) -> bool {
        let now = Instant::now();
        let mut calls = self.lock();
        calls.retain(|_, (_, e)| *e > now);
        if !calls.contains_key(&call.call_sid) && limit.is_some_and(|l| calls.len() as u64 >= l) {
            return false;
        }
        calls.insert(call.call_sid.clone(), (call.clone(), now + ttl));
        true
    }

    pub(super) fn set_state(&self, call_sid: &str, state: CallState, ttl: Duration) {
        if let Some((call, expires)) = self.lock().get_mut(call_sid) {
            call.state = state;
            *expires = Instant::now() + ttl;
        }
    }

    pub(super) fn heartbeat(&self, call_sids: &[String], ttl: Duration) {
        let expires = Instant::now() + ttl;
        let mut calls = self.lock();
        for sid in call_sids {
            if let Some((_, e)) = calls.get_mut(sid) {
                *e = expires;
            }
        }
    }

    pub(super) fn remove(&self, call_sid: &str) {
        self.lock().remove(call_sid);
    }

    pub(super) fn get(&self, call_sid: &str) -> Option<LiveCall> {
        let now = Instant::now();
        self.lock()
            .get(call_sid)
            .filter(|(_, e)| *e > now)
            .map(|(c, _)| c.clone())
    }

    pub(super) fn counts(&self) -> ClusterCounts {
        let now = Instant::now();
        let mut calls = self.lock();
        calls.retain(|_, (_, e)| *e > now);
        ClusterCounts {
            live: calls.len() as u64,
            reserved: calls
                .values()
                .filter(|(c, _)| c.state == CallState::Ringing)
                .count() as u64,
        }
    }
}
