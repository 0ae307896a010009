//! Suppresses repeats of a code that stays in view (a phone held in front of the camera shows
//! the same QR code in every frame). Sans-IO: the caller passes the time.

use std::time::{Duration, Instant};

/// Admits a code once, then ignores it while it keeps being seen with gaps shorter than the
/// hold-off. A code not seen for the whole hold-off is admitted again.
#[derive(Debug, Clone)]
pub struct HoldOff {
    window: Duration,
    recent: Vec<(String, Instant)>,
}

/// How long a code must be out of view before it counts as a new scan.
pub const DEFAULT_HOLD_OFF: Duration = Duration::from_millis(1500);

impl Default for HoldOff {
    fn default() -> Self {
        HoldOff::new(DEFAULT_HOLD_OFF)
    }
}

impl HoldOff {
    pub fn new(window: Duration) -> Self {
        HoldOff {
            window,
            recent: Vec::new(),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether `text`, seen at `now`, is a new scan. Every sighting restarts its hold-off.
    pub fn admit(&mut self, text: &str, now: Instant) -> bool {
        let window = self.window;
        self.recent
            .retain(|(_, seen)| now.saturating_duration_since(*seen) < window);
        if let Some(entry) = self.recent.iter_mut().find(|(t, _)| t == text) {
            entry.1 = now;
            return false;
        }
        // A handful of codes in view at once is plenty; forget the oldest beyond that.
        if self.recent.len() >= 16 {
            self.recent.remove(0);
        }
        self.recent.push((text.to_string(), now));
        true
    }

    /// Forgets every code (a new session starts).
    pub fn clear(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_code_is_admitted_once() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut h = HoldOff::new(Duration::from_millis(500));
        assert!(h.admit("PAY-1", t0));
        // 30 frames per second for three seconds: still one scan.
        for f in 1..90 {
            assert!(!h.admit("PAY-1", ms(f * 33)));
        }
        // Another code in view at the same time is its own scan.
        assert!(h.admit("PAY-2", ms(3000)));
        // Taken away for longer than the hold-off, shown again: a new scan.
        assert!(h.admit("PAY-1", ms(2970 + 600)));
        // Shown again quickly after a short gap (detector flicker): not a new scan.
        assert!(!h.admit("PAY-1", ms(2970 + 900)));
    }

    #[test]
    fn zero_hold_off_admits_every_sighting() {
        let t0 = Instant::now();
        let mut h = HoldOff::new(Duration::ZERO);
        assert!(h.admit("A", t0));
        assert!(h.admit("A", t0));
    }
}
