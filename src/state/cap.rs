//! The per-instance call cap: calls announced by the webhook (ringing) and calls streaming
//! both count, so a burst of webhooks cannot admit more calls than the instance will carry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct CapState {
    /// Call sid -> when the reservation lapses (the socket never came).
    ringing: HashMap<String, Instant>,
    active: usize,
}

/// Counts calls against `MAX_CALLS`.
#[derive(Debug, Clone)]
pub struct CallCap {
    max: usize,
    state: Arc<Mutex<CapState>>,
}

/// A streaming call's place under the cap; released on drop.
#[derive(Debug)]
pub struct CallSlot {
    state: Arc<Mutex<CapState>>,
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.active = s.active.saturating_sub(1);
    }
}

impl CallCap {
    /// A cap of `max` concurrent calls.
    pub fn new(max: usize) -> Self {
        CallCap {
            max,
            state: Arc::new(Mutex::new(CapState::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CapState> {
        // Counter updates cannot be left half-done by a panic; a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves room for a call the webhook is about to connect; false when full.
    pub fn try_reserve(&self, call_sid: &str, now: Instant, ttl: Duration) -> bool {
        let mut s = self.lock();
        s.ringing.retain(|_, lapses| *lapses > now);
        if s.ringing.contains_key(call_sid) {
            return true;
        }
        if s.active + s.ringing.len() >= self.max {
            return false;
        }
        s.ringing.insert(call_sid.to_string(), now + ttl);
        true
    }

    /// Turns a reservation (or, for carriers without our webhook, free room) into a slot.
    pub fn try_start(&self, call_sid: &str, now: Instant) -> Option<CallSlot> {
        let mut s = self.lock();
        s.ringing.retain(|_, lapses| *lapses > now);
        let reserved = s.ringing.remove(call_sid).is_some();
        if !reserved && s.active + s.ringing.len() >= self.max {
            return None;
        }
        s.active += 1;
        Some(CallSlot {
            state: self.state.clone(),
        })
    }

    /// Gives back a reservation the cluster refused.
    pub fn release(&self, call_sid: &str) {
        self.lock().ringing.remove(call_sid);
    }

    /// Calls announced by the webhook whose media has not arrived yet (and has time left).
    pub fn reserved(&self, now: Instant) -> usize {
        let mut s = self.lock();
        s.ringing.retain(|_, lapses| *lapses > now);
        s.ringing.len()
    }

    /// Streaming calls.
    pub fn active(&self) -> usize {
        self.lock().active
    }

    /// Whether another call would be admitted now.
    pub fn has_room(&self, now: Instant) -> bool {
        let mut s = self.lock();
        s.ringing.retain(|_, lapses| *lapses > now);
        s.active + s.ringing.len() < self.max
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // Tests pick an arbitrary origin for the virtual clock.
mod tests {
    use super::*;

    #[test]
    fn reservations_and_streams_share_the_cap() {
        let cap = CallCap::new(2);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        assert!(cap.try_reserve("A", t0, ttl));
        assert!(cap.try_reserve("B", t0, ttl));
        assert!(!cap.try_reserve("C", t0, ttl));
        let a = cap.try_start("A", t0).unwrap();
        assert!(cap.try_start("C", t0).is_none());
        assert_eq!(cap.active(), 1);
        drop(a);
        assert_eq!(cap.active(), 0);
        assert!(cap.has_room(t0));
    }

    #[test]
    fn lapsed_reservations_free_their_room() {
        let cap = CallCap::new(1);
        let t0 = Instant::now();
        assert!(cap.try_reserve("A", t0, Duration::from_secs(5)));
        assert!(!cap.has_room(t0));
        assert!(cap.has_room(t0 + Duration::from_secs(6)));
        assert!(cap.try_start("B", t0 + Duration::from_secs(6)).is_some());
    }
}
