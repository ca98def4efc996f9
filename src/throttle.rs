//! In-memory limits: throttling of failed guesses (meldcodes, logins), keyed by what is
//! being guessed and counted globally, and the hourly budget of anonymous evidence bytes.
//! Never by address: no IP address is ever looked at.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Keys remembered at most, per throttle. Each kept key cost an attempt that was checked
/// (an Argon2id derivation), and a key the map is full of is forgotten lowest count first,
/// so flushing a key with `c` failures out takes `CAPACITY` keys of `c` or more failures:
/// at 10 failures a key, a million derivations to win back 10 guesses (see [`Throttle`]).
/// About 200 bytes a key: some 20 MB at most.
const CAPACITY: usize = 100_000;

/// Failures per key and in all within a window, bounded in memory and in work: each check
/// is a few map operations (O(log n)) under the lock, never a scan.
///
/// Bounded how: a key whose window is over is dropped (oldest first, as checks come in);
/// a key whose attempts all succeeded or were never checked is dropped at once; and when
/// [`CAPACITY`] keys are kept, a new key pushes out the one with the fewest failures
/// (oldest first among equals). Not the oldest key: a flooder could then push a real
/// target's count out with cheap new keys and guess it again. The key they want to free
/// is the one with the most failures, which goes last, after every key with fewer; filling
/// the map with keys of as many failures costs them that many checked attempts per key.
pub struct Throttle {
    per_key_max: u32,
    global_max: u32,
    window: i64,
    capacity: usize,
    state: Mutex<State>,
}

struct Entry {
    failures: u32,
    since: i64,
    /// Tells this entry from a later one of the same key (after it was dropped).
    serial: u64,
}

#[derive(Default)]
struct State {
    keys: HashMap<Arc<[u8]>, Entry>,
    /// Every kept key by the start of its window: the front is the next to expire.
    by_start: BTreeMap<(i64, u64), Arc<[u8]>>,
    /// Every kept key by (failures, start, serial): the first is pushed out when full.
    by_weight: BTreeSet<(u32, i64, u64)>,
    next_serial: u64,
    global: (u32, i64),
}

impl State {
    fn forget(&mut self, key: &[u8]) {
        if let Some(e) = self.keys.remove(key) {
            self.by_start.remove(&(e.since, e.serial));
            self.by_weight.remove(&(e.failures, e.since, e.serial));
        }
    }

    /// Drops the keys whose window is over.
    fn expire(&mut self, now: i64, window: i64) {
        while let Some((&(since, _), key)) = self.by_start.first_key_value() {
            if now - since < window {
                break;
            }
            let key = key.clone();
            self.forget(&key);
        }
    }

    /// Sets a kept key's failures, keeping the weight index in step; a key left with none
    /// is dropped (it holds nothing against anyone).
    fn set_failures(&mut self, key: &[u8], failures: u32) {
        let Some(e) = self.keys.get_mut(key) else { return };
        if failures == 0 {
            self.forget(key);
            return;
        }
        self.by_weight.remove(&(e.failures, e.since, e.serial));
        e.failures = failures;
        self.by_weight.insert((e.failures, e.since, e.serial));
    }
}

impl Throttle {
    /// At most `per_key_max` failures per key and `global_max` in all per `window` seconds.
    pub fn new(per_key_max: u32, global_max: u32, window: i64) -> Self {
        Throttle {
            per_key_max,
            global_max,
            window,
            capacity: CAPACITY,
            state: Mutex::new(State::default()),
        }
    }

    /// Admits an attempt on `key` now, or refuses it. An admitted attempt counts as a
    /// failure from this moment on, so guesses sent in parallel cannot get past the limit
    /// while the first ones are still being checked; [`Attempt::succeeded`] and
    /// [`Attempt::not_checked`] take it back (and the key with it, if that was all it held).
    /// A refused attempt leaves nothing behind.
    pub fn admit(&self, key: &[u8], now: i64) -> Option<Attempt<'_>> {
        let Ok(mut s) = self.state.lock() else { return None };
        if now - s.global.1 >= self.window {
            s.global = (0, now);
        }
        if s.global.0 >= self.global_max {
            return None;
        }
        s.expire(now, self.window);
        let serial = match s.keys.get(key) {
            Some(e) if e.failures >= self.per_key_max => return None,
            Some(e) => {
                let (failures, serial) = (e.failures + 1, e.serial);
                s.set_failures(key, failures);
                serial
            }
            None => {
                if s.keys.len() >= self.capacity {
                    if let Some(&(_, since, serial)) = s.by_weight.first() {
                        if let Some(k) = s.by_start.get(&(since, serial)).cloned() {
                            s.forget(&k);
                        }
                    }
                }
                let serial = s.next_serial;
                s.next_serial += 1;
                let shared: Arc<[u8]> = Arc::from(key);
                s.by_start.insert((now, serial), shared.clone());
                s.by_weight.insert((1, now, serial));
                s.keys.insert(
                    shared,
                    Entry {
                        failures: 1,
                        since: now,
                        serial,
                    },
                );
                serial
            }
        };
        s.global.0 += 1;
        Some(Attempt {
            throttle: self,
            key: key.to_vec(),
            serial,
        })
    }

    fn refund(&self, key: &[u8], serial: u64) {
        let Ok(mut s) = self.state.lock() else { return };
        s.global.0 = s.global.0.saturating_sub(1);
        // Only the entry this attempt was counted in: one dropped meanwhile (its window
        // over, or pushed out) and made anew holds other attempts' failures.
        let failures = match s.keys.get(key) {
            Some(e) if e.serial == serial => e.failures.saturating_sub(1),
            _ => return,
        };
        s.set_failures(key, failures);
    }
}

/// An attempt the throttle let through; dropped, it stays counted as a failure.
#[must_use = "an attempt that succeeded must say so, or it counts as a failed guess"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    key: Vec<u8>,
    serial: u64,
}

impl Attempt<'_> {
    /// The guess was right: it does not count against the limit.
    pub fn succeeded(self) {
        self.throttle.refund(&self.key, self.serial);
    }

    /// The guess could not be checked (the service was too busy): it does not count.
    pub fn not_checked(self) {
        self.throttle.refund(&self.key, self.serial);
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

    fn kept(t: &Throttle) -> usize {
        t.state.lock().map(|s| s.keys.len()).unwrap_or(usize::MAX)
    }

    #[test]
    fn an_attempt_never_checked_or_right_leaves_no_entry() {
        let t = Throttle::new(10, 100, 60);
        t.admit(b"busy", 0).unwrap().not_checked();
        t.admit(b"right", 0).unwrap().succeeded();
        assert_eq!(kept(&t), 0, "nothing is kept for attempts that count nothing");
        drop(t.admit(b"wrong", 0).unwrap());
        assert_eq!(kept(&t), 1);
    }

    #[test]
    fn keys_are_forgotten_when_their_window_is_over() {
        let t = Throttle::new(10, u32::MAX, 60);
        for i in 0..1000u32 {
            drop(t.admit(&i.to_be_bytes(), 0));
        }
        drop(t.admit(b"later", 60));
        assert_eq!(kept(&t), 1, "only the key of the current window is kept");
    }

    #[test]
    fn the_map_stays_bounded_within_its_window() {
        let t = Throttle::new(10, u32::MAX, 900);
        for i in 0..(CAPACITY as u32 + 50_000) {
            drop(t.admit(&i.to_be_bytes(), 0));
        }
        assert!(kept(&t) <= CAPACITY, "{} keys kept", kept(&t));
    }

    #[test]
    fn a_flood_of_new_keys_does_not_push_out_a_blocked_key() {
        let mut t = Throttle::new(3, u32::MAX, 900);
        t.capacity = 4;
        for now in 0..3 {
            drop(t.admit(b"target", now).unwrap());
        }
        assert!(t.admit(b"target", 3).is_none());
        // Many new keys, each with one failure: they push out one another, never the key
        // with the most failures.
        for i in 0..1000u32 {
            drop(t.admit(&i.to_be_bytes(), 10).unwrap());
        }
        assert!(kept(&t) <= 4);
        assert!(
            t.admit(b"target", 11).is_none(),
            "the target's count survived the flood"
        );
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
