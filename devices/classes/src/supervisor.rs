//! Keeps the devices of a terminal profile open: notices an unplug (a `Disconnected` fault from
//! an operation or from the periodic probe), reports it, and reopens the device when it comes
//! back, without restarting the app. A closed device is retried every `reopen_interval`
//! (500 ms by default, so a device that reappears is back within about a second).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::Device;
use crate::health::{
    Availability, DeviceClass, DeviceFault, DeviceState, ErrorKind, HasKind, Health,
};

/// Something that happened to a device, for the maintenance menu's live view and the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum DeviceEvent {
    /// The device was opened (first time or after an unplug).
    Opened {
        name: String,
        transport: String,
        reopen: bool,
    },
    /// The device went away or failed to open; the supervisor keeps retrying.
    Lost { name: String, fault: DeviceFault },
    /// An operation failed without the device going away.
    Error { name: String, fault: DeviceFault },
}

/// Opens a device of class `D` (the same code path for the first open and every reopen).
pub type Opener<D> = Box<dyn Fn() -> Result<Box<D>, DeviceFault> + Send + Sync>;

struct Bus {
    subscribers: Mutex<Vec<Sender<DeviceEvent>>>,
}

impl Bus {
    fn emit(&self, event: DeviceEvent) {
        tracing::info!(?event, "device event");
        let mut subs = lock(&self.subscribers);
        subs.retain(|s| s.send(event.clone()).is_ok());
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a device lock must not take the whole kiosk down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Shared<D: ?Sized> {
    slot: Mutex<Option<Box<D>>>,
    health: Mutex<Health>,
    opener: Opener<D>,
    bus: Arc<Bus>,
    last_attempt: Mutex<Option<Instant>>,
    last_probe: Mutex<Option<Instant>>,
}

/// One supervised device. Cheap to clone; all clones share the device.
pub struct Supervised<D: ?Sized> {
    shared: Arc<Shared<D>>,
}

impl<D: ?Sized> Clone for Supervised<D> {
    fn clone(&self) -> Self {
        Supervised {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<D: ?Sized + Device> Supervised<D> {
    fn new(
        name: &str,
        class: DeviceClass,
        transport: &str,
        opener: Opener<D>,
        bus: Arc<Bus>,
    ) -> Self {
        let health = Health {
            name: name.to_string(),
            class,
            transport: transport.to_string(),
            state: DeviceState::Closed,
            availability: Availability::NoDevice,
            last_fault: None,
            last_change: SystemTime::now(),
            counters: Default::default(),
        };
        Supervised {
            shared: Arc::new(Shared {
                slot: Mutex::new(None),
                health: Mutex::new(health),
                opener,
                bus,
                last_attempt: Mutex::new(None),
                last_probe: Mutex::new(None),
            }),
        }
    }

    /// The current health report.
    pub fn health(&self) -> Health {
        lock(&self.shared.health).clone()
    }

    /// Runs `op` on the open device. The outer error says the device is not available (closed,
    /// unplugged); the inner result is the operation's own, with its typed error.
    pub fn try_with<T, E: HasKind + fmt::Display>(
        &self,
        op: impl FnOnce(&mut D) -> Result<T, E>,
    ) -> Result<Result<T, E>, DeviceFault> {
        let mut slot = lock(&self.shared.slot);
        if slot.is_none() {
            // An operation is a good moment to try again at once rather than wait for the tick.
            drop(slot);
            self.try_open();
            slot = lock(&self.shared.slot);
        }
        let Some(device) = slot.as_mut() else {
            let h = self.health();
            return Err(h.last_fault.unwrap_or_else(|| {
                DeviceFault::new(ErrorKind::NotFound, format!("{} is not open", h.name))
            }));
        };
        self.set_state(DeviceState::Busy);
        let result = op(device);
        match &result {
            Ok(_) => {
                let mut h = lock(&self.shared.health);
                h.counters.operations += 1;
                h.state = DeviceState::Idle;
                if h.availability != Availability::Online {
                    h.availability = Availability::Online;
                    h.last_change = SystemTime::now();
                }
            }
            Err(e) => {
                let fault = DeviceFault::from_error(e);
                if fault.kind.needs_reopen() {
                    *slot = None;
                }
                drop(slot);
                self.record_fault(fault);
            }
        }
        Ok(result)
    }

    /// Like [`Supervised::try_with`], with every failure reduced to a [`DeviceFault`].
    pub fn with<T, E: HasKind + fmt::Display>(
        &self,
        op: impl FnOnce(&mut D) -> Result<T, E>,
    ) -> Result<T, DeviceFault> {
        self.try_with(op)?.map_err(|e| DeviceFault::from_error(&e))
    }

    /// Whether the device is open now.
    pub fn is_open(&self) -> bool {
        lock(&self.shared.slot).is_some()
    }

    fn set_state(&self, state: DeviceState) {
        lock(&self.shared.health).state = state;
    }

    fn record_fault(&self, fault: DeviceFault) {
        let name;
        let lost = fault.kind.needs_reopen();
        {
            let mut h = lock(&self.shared.health);
            name = h.name.clone();
            h.counters.errors += 1;
            if matches!(
                fault.kind,
                ErrorKind::Timeout | ErrorKind::Protocol | ErrorKind::Disconnected
            ) {
                h.counters.communication_errors += 1;
            }
            if lost {
                if h.availability == Availability::Online {
                    h.counters.unplugs += 1;
                }
                h.state = DeviceState::Closed;
                h.availability = Availability::NoDevice;
            } else {
                h.state = DeviceState::Idle;
                if matches!(
                    fault.kind,
                    ErrorKind::PaperOut | ErrorKind::CoverOpen | ErrorKind::HardwareError
                ) {
                    h.availability = Availability::HwError;
                }
            }
            h.last_fault = Some(fault.clone());
            h.last_change = SystemTime::now();
        }
        if lost {
            self.shared.bus.emit(DeviceEvent::Lost { name, fault });
        } else {
            self.shared.bus.emit(DeviceEvent::Error { name, fault });
        }
    }

    /// Opens the device if it is closed. Returns whether it is open afterwards.
    pub fn try_open(&self) -> bool {
        *lock(&self.shared.last_attempt) = Some(Instant::now());
        let mut slot = lock(&self.shared.slot);
        if slot.is_some() {
            return true;
        }
        match (self.shared.opener)() {
            Ok(device) => {
                let info = device.info();
                *slot = Some(device);
                drop(slot);
                let (name, reopen) = {
                    let mut h = lock(&self.shared.health);
                    let reopen = h.counters.unplugs > 0;
                    if reopen {
                        h.counters.reopens += 1;
                    }
                    h.state = DeviceState::Idle;
                    h.availability = Availability::Online;
                    h.transport = info.transport.clone();
                    h.last_change = SystemTime::now();
                    (h.name.clone(), reopen)
                };
                self.shared.bus.emit(DeviceEvent::Opened {
                    name,
                    transport: info.transport,
                    reopen,
                });
                true
            }
            Err(fault) => {
                drop(slot);
                // Report a failed open once, not on every retry.
                let repeat = lock(&self.shared.health).last_fault.as_ref() == Some(&fault);
                if !repeat {
                    self.record_fault(DeviceFault::new(
                        if fault.kind.needs_reopen() {
                            fault.kind
                        } else {
                            ErrorKind::NotFound
                        },
                        fault.message.clone(),
                    ));
                    let mut h = lock(&self.shared.health);
                    h.last_fault = Some(fault);
                }
                false
            }
        }
    }
}

trait Watch: Send + Sync {
    fn tick(&self, reopen_interval: Duration, probe_interval: Duration);
    fn health(&self) -> Health;
}

impl<D: ?Sized + Device + 'static> Watch for Supervised<D> {
    fn tick(&self, reopen_interval: Duration, probe_interval: Duration) {
        let due = |m: &Mutex<Option<Instant>>, every: Duration| {
            lock(m).map(|t| t.elapsed() >= every).unwrap_or(true)
        };
        if !self.is_open() {
            if due(&self.shared.last_attempt, reopen_interval) {
                self.try_open();
            }
            return;
        }
        if !due(&self.shared.last_probe, probe_interval) {
            return;
        }
        // Probe only when idle: an operation in progress proves liveness well enough.
        let Ok(mut slot) = self.shared.slot.try_lock() else {
            return;
        };
        *lock(&self.shared.last_probe) = Some(Instant::now());
        let Some(device) = slot.as_mut() else { return };
        if let Err(fault) = device.probe() {
            if fault.kind.needs_reopen() {
                *slot = None;
            }
            drop(slot);
            self.record_fault(fault);
        } else {
            drop(slot);
            let mut h = lock(&self.shared.health);
            if h.availability == Availability::HwError {
                h.availability = Availability::Online;
                h.last_change = SystemTime::now();
            }
        }
    }

    fn health(&self) -> Health {
        Supervised::health(self)
    }
}

/// Owns the watch thread for every device of a terminal profile.
pub struct Supervisor {
    bus: Arc<Bus>,
    devices: Arc<Mutex<Vec<Arc<dyn Watch>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// How often a closed device is reopened.
    pub reopen_interval: Duration,
    /// How often an idle open device is probed.
    pub probe_interval: Duration,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Supervisor {
            bus: Arc::new(Bus {
                subscribers: Mutex::new(Vec::new()),
            }),
            devices: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            reopen_interval: Duration::from_millis(500),
            probe_interval: Duration::from_secs(1),
        }
    }

    /// Adds a device and tries to open it once now (a missing device is reported, not fatal).
    pub fn add<D: ?Sized + Device + 'static>(
        &self,
        name: &str,
        class: DeviceClass,
        transport: &str,
        opener: Opener<D>,
    ) -> Supervised<D> {
        let dev = Supervised::new(name, class, transport, opener, Arc::clone(&self.bus));
        dev.try_open();
        lock(&self.devices).push(Arc::new(dev.clone()));
        dev
    }

    /// Receives every device event from now on.
    pub fn subscribe(&self) -> Receiver<DeviceEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.bus.subscribers).push(tx);
        rx
    }

    /// Health of every device, in the order they were added.
    pub fn health(&self) -> Vec<Health> {
        lock(&self.devices).iter().map(|d| d.health()).collect()
    }

    /// Starts the watch thread (probing and reopening).
    pub fn start(&mut self) {
        if self.thread.is_some() {
            return;
        }
        let devices = Arc::clone(&self.devices);
        let stop = Arc::clone(&self.stop);
        let (reopen, probe) = (self.reopen_interval, self.probe_interval);
        let tick = Duration::from_millis(100).min(reopen);
        self.thread = Some(
            std::thread::Builder::new()
                .name("device-supervisor".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let list: Vec<_> = lock(&devices).clone();
                        for d in list {
                            d.tick(reopen, probe);
                        }
                        std::thread::sleep(tick);
                    }
                })
                .expect("spawning the supervisor thread"),
        );
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceInfo;
    use std::sync::atomic::AtomicU32;

    struct Fake {
        alive: Arc<AtomicBool>,
    }

    impl Device for Fake {
        fn info(&self) -> DeviceInfo {
            DeviceInfo {
                class: DeviceClass::RfidReader,
                model: "fake".into(),
                firmware: None,
                transport: "sim:".into(),
            }
        }
        fn probe(&mut self) -> Result<(), DeviceFault> {
            if self.alive.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(DeviceFault::new(ErrorKind::Disconnected, "gone"))
            }
        }
    }

    #[test]
    fn unplug_is_reported_and_device_reopened() {
        let alive = Arc::new(AtomicBool::new(true));
        let opens = Arc::new(AtomicU32::new(0));
        let (a, o) = (Arc::clone(&alive), Arc::clone(&opens));
        let mut sup = Supervisor::new();
        sup.probe_interval = Duration::from_millis(50);
        sup.reopen_interval = Duration::from_millis(50);
        let events = sup.subscribe();
        let dev: Supervised<Fake> = sup.add(
            "pad",
            DeviceClass::RfidReader,
            "sim:",
            Box::new(move || {
                if a.load(Ordering::SeqCst) {
                    o.fetch_add(1, Ordering::SeqCst);
                    Ok(Box::new(Fake {
                        alive: Arc::clone(&a),
                    }))
                } else {
                    Err(DeviceFault::new(ErrorKind::NotFound, "no such port"))
                }
            }),
        );
        sup.start();
        assert!(matches!(
            events.recv_timeout(Duration::from_secs(2)),
            Ok(DeviceEvent::Opened { reopen: false, .. })
        ));
        alive.store(false, Ordering::SeqCst);
        assert!(matches!(
            events.recv_timeout(Duration::from_secs(2)),
            Ok(DeviceEvent::Lost { .. })
        ));
        assert_eq!(dev.health().availability, Availability::NoDevice);
        let r = dev.with(|_d| Ok::<_, DeviceFault>(()));
        assert!(r.is_err());
        alive.store(true, Ordering::SeqCst);
        loop {
            match events.recv_timeout(Duration::from_secs(2)) {
                Ok(DeviceEvent::Opened { reopen: true, .. }) => break,
                Ok(_) => continue,
                Err(e) => panic!("no reopen: {e}"),
            }
        }
        let h = dev.health();
        assert_eq!(h.availability, Availability::Online);
        assert_eq!(h.counters.unplugs, 1);
        assert_eq!(h.counters.reopens, 1);
        assert_eq!(opens.load(Ordering::SeqCst), 2);
    }
}
