//! In-memory throttling of failed guesses (meldcodes, logins), keyed by what is being
//! guessed and counted globally, never by address: no IP address is ever looked at.

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

    /// Whether another attempt on `key` may be made now.
    pub fn allows(&self, key: &[u8], now: i64) -> bool {
        let Ok(s) = self.state.lock() else { return false };
        let fresh = |(n, start): (u32, i64), max: u32| now - start >= self.window || n < max;
        fresh(s.global, self.global_max) && s.keys.get(key).is_none_or(|&e| fresh(e, self.per_key_max))
    }

    pub fn failed(&self, key: &[u8], now: i64) {
        let Ok(mut s) = self.state.lock() else { return };
        let window = self.window;
        let bump = |e: &mut (u32, i64)| {
            if now - e.1 >= window {
                *e = (0, now);
            }
            e.0 += 1;
        };
        bump(&mut s.global);
        if s.keys.len() > 100_000 {
            s.keys.retain(|_, e| now - e.1 < window);
        }
        bump(s.keys.entry(key.to_vec()).or_insert((0, now)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_a_key_after_its_failures_until_the_window_passes() {
        let t = Throttle::new(2, 100, 60);
        assert!(t.allows(b"a", 0));
        t.failed(b"a", 0);
        t.failed(b"a", 1);
        assert!(!t.allows(b"a", 2));
        assert!(t.allows(b"b", 2));
        assert!(t.allows(b"a", 61));
    }

    #[test]
    fn blocks_everyone_after_the_global_limit() {
        let t = Throttle::new(10, 3, 60);
        for k in [b"a", b"b", b"c"] {
            t.failed(k, 0);
        }
        assert!(!t.allows(b"d", 1));
    }
}
