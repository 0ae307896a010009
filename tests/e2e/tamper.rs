//! Damaged replies for the malformed-frame tests: a wrapper around any protocol simulator that,
//! when told to, cuts its replies short or replaces them, so each driver meets truncated,
//! oversized and garbage frames through the same real pseudo-terminal it uses in production.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_sim::SerialDevice;

/// What happens to the simulator's next replies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Damage {
    /// Replies go out as the simulator made them.
    #[default]
    None,
    /// Only the first half of each reply is sent, the rest never comes (a UART overrun, a
    /// reader that resets mid-reply).
    Truncate,
    /// Each reply is replaced by these bytes (an oversized length field, noise).
    Replace(Vec<u8>),
    /// Each reply is sent this long after the request: after the driver's timeout, so it
    /// arrives unasked while the driver is idle or waiting for its next reply.
    Late(Duration),
}

/// Switches the damage of a running [`Tamper`].
#[derive(Clone, Default)]
pub struct DamageSwitch(Arc<Mutex<Damage>>);

impl DamageSwitch {
    pub fn set(&self, damage: Damage) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = damage;
    }

    fn get(&self) -> Damage {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A simulator whose replies can be damaged from the test.
pub struct Tamper<D> {
    inner: D,
    damage: DamageSwitch,
    /// Late replies and when they go out.
    late: Vec<(Instant, Vec<u8>)>,
}

impl<D: SerialDevice> Tamper<D> {
    pub fn new(inner: D) -> (Self, DamageSwitch) {
        let damage = DamageSwitch::default();
        (
            Tamper {
                inner,
                damage: damage.clone(),
                late: Vec::new(),
            },
            damage,
        )
    }
}

impl<D: SerialDevice> SerialDevice for Tamper<D> {
    fn on_input(&mut self, input: &mut Vec<u8>) -> Vec<u8> {
        let reply = self.inner.on_input(input);
        if reply.is_empty() {
            return reply;
        }
        match self.damage.get() {
            Damage::None => reply,
            Damage::Truncate => reply[..reply.len() / 2].to_vec(),
            Damage::Replace(bytes) => bytes,
            Damage::Late(after) => {
                self.late.push((Instant::now() + after, reply));
                Vec::new()
            }
        }
    }

    fn on_idle(&mut self) -> Vec<u8> {
        let now = Instant::now();
        if let Some(i) = self.late.iter().position(|(due, _)| *due <= now) {
            return self.late.remove(i).1;
        }
        self.inner.on_idle()
    }
}

/// Runs `f` and checks it returned within `limit` (a driver must never wait past its own
/// timeout, whatever it receives). Returns what `f` returned and how long it took.
pub fn timed<T>(limit: Duration, f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < limit, "took {took:?}, limit {limit:?}");
    (out, took)
}
