//! In-memory limits: throttling of failed guesses (meldcodes, logins), keyed by what is
//! being guessed and counted globally, and the hourly budget of anonymous evidence bytes.
//! Never by address: no IP address is ever looked at.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Throttle {
    per_key_max: u32,
    global_max: u32,
    window: i64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: HashMap<Vec<u8>, (u32, i64)>,
    global: (u32, i64),
}

impl Throttle {
    /// At most `per_key_max` failures per key and `global_max` in all per `window` seconds.
    pub fn new(per_key_max: u32, global_max: u32, window: i64) -> Self {
        Throttle {
            per_key_max,
            global_max,
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// Admits an attempt on `key` now, or refuses it. An admitted attempt counts as a
    /// failure from this moment on, so guesses sent in parallel cannot get past the limit
    /// while the first ones are still being checked; [`Attempt::succeeded`] takes it back.
    pub fn admit(&self, key: &[u8], now: i64) -> Option<Attempt<'_>> {
        let Ok(mut s) = self.state.lock() else { return None };
        let window = self.window;
        let open = |e: &mut (u32, i64), max: u32| {
            if now - e.1 >= window {
                *e = (0, now);
            }
            e.0 < max
        };
        let global_max = self.global_max;
        if !open(&mut s.global, global_max) {
            return None;
        }
        if s.keys.len() > 100_000 {
            s.keys.retain(|_, e| now - e.1 < window);
        }
        let entry = s.keys.entry(key.to_vec()).or_insert((0, now));
        if !open(entry, self.per_key_max) {
            return None;
        }
        entry.0 += 1;
        s.global.0 += 1;
        Some(Attempt {
            throttle: self,
            key: key.to_vec(),
        })
    }

    fn refund(&self, key: &[u8]) {
        let Ok(mut s) = self.state.lock() else { return };
        s.global.0 = s.global.0.saturating_sub(1);
        if let Some(e) = s.keys.get_mut(key) {
            e.0 = e.0.saturating_sub(1);
        }
    }
}

/// An attempt the throttle let through; dropped, it stays counted as a failure.
#[must_use = "an attempt that succeeded must say so, or it counts as a failed guess"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    key: Vec<u8>,
}

impl Attempt<'_> {
    /// The guess was right: it does not count against the limit.
    pub fn succeeded(self) {
        self.throttle.refund(&self.key);
    }

    /// The guess could not be checked (the service was too busy): it does not count.
    pub fn not_checked(self) {
        self.throttle.refund(&self.key);
    }
}

/// The evidence reporters (who are anonymous) may upload, server-wide, per clock hour: one
/// client could otherwise fill the disk with reports of a few files each. Taken as bytes
/// arrive (so uploads in flight count), in memory (per instance); what is not stored in the
/// end (a file over its limit, a refused form, a duplicate) is given back, so refused bytes
/// cost a flooder their bandwidth but not the reporters their budget.
#[derive(Debug)]
pub struct Budget {
    per_hour: u64,
    used: std::sync::Mutex<(i64, u64)>,
}

impl Budget {
    pub fn new(per_hour: u64) -> Budget {
        Budget {
            per_hour,
            used: std::sync::Mutex::new((0, 0)),
        }
    }

    /// Takes `n` bytes from this hour's budget; false (taking nothing) once it is spent.
    pub fn take(&self, n: u64, now: i64) -> bool {
        let hour = now.div_euclid(3600);
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if used.0 != hour {
            *used = (hour, 0);
        }
        if used.1.saturating_add(n) > self.per_hour {
            return false;
        }
        used.1 += n;
        true
    }

    /// Gives back `n` bytes taken at `taken_at` that were not stored. Bytes of an hour that
    /// is over are already forgotten.
    pub fn give_back(&self, n: u64, taken_at: i64) {
        let hour = taken_at.div_euclid(3600);
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if used.0 == hour {
            used.1 = used.1.saturating_sub(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_a_key_after_its_failures_until_the_window_passes() {
        let t = Throttle::new(2, 100, 60);
        drop(t.admit(b"a", 0).unwrap());
        drop(t.admit(b"a", 1).unwrap());
        assert!(t.admit(b"a", 2).is_none());
        assert!(t.admit(b"b", 2).is_some());
        assert!(t.admit(b"a", 61).is_some());
    }

    #[test]
    fn attempts_in_flight_count_before_they_are_checked() {
        let t = Throttle::new(3, 100, 60);
        let in_flight: Vec<_> = (0..10).filter_map(|_| t.admit(b"a", 0)).collect();
        assert_eq!(in_flight.len(), 3, "parallel guesses get the limit, not more");
        for a in in_flight {
            a.succeeded();
        }
        assert!(t.admit(b"a", 0).is_some(), "right guesses are given back");
    }

    #[test]
    fn bytes_given_back_can_be_taken_again_within_the_hour() {
        let b = Budget::new(100);
        assert!(b.take(80, 10));
        assert!(!b.take(30, 20));
        b.give_back(80, 10);
        assert!(b.take(100, 30));
        // Given back after the hour turned: the new hour is not credited.
        b.give_back(100, 30);
        assert!(b.take(100, 3600));
        b.give_back(50, 3599);
        assert!(!b.take(1, 3601));
    }

    #[test]
    fn blocks_everyone_after_the_global_limit() {
        let t = Throttle::new(10, 3, 60);
        for k in [b"a", b"b", b"c"] {
            drop(t.admit(k, 0).unwrap());
        }
        assert!(t.admit(b"d", 1).is_none());
    }
}
