//! Forwarding the signed offline queue to the records back office (PROTOCOL.md §7): the queue's
//! [`kiosk_uploader::Uploader`] runs on a thread of its own whenever the profile names a
//! `[backoffice] records_url`, so every record reaches the back office once the line is up and
//! nothing waits on the screen. In demo mode (`records_url = "embedded"`, or any `--demo`) the
//! back office is the reference receiver itself ([`EmbeddedReceiver`], `kiosk-backoffice`) on a
//! loopback port, with its SQLite store in the demo's private folder and the terminal enrolled
//! under its queue's first key, so the maintenance menu's backlog drains as on a real lobby.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kiosk_queue::Queue;
use kiosk_queue::protocol::UPLOAD_PATH;
use kiosk_uploader::{Config, Status, Uploader};

/// The `records_url` that asks for the embedded receiver.
pub const EMBEDDED: &str = "embedded";

/// The uploader's base URL of a records upload endpoint: `https://bo/v1/records` and
/// `https://bo` both give `https://bo`.
pub fn upload_base(records_url: &str) -> String {
    let url = records_url.trim_end_matches('/');
    url.strip_suffix(UPLOAD_PATH).unwrap_or(url).to_string()
}

/// Starts a current-thread tokio runtime on a named thread running `task` until `stop` fires.
fn spawn_runtime<F, Fut>(name: &str, task: F) -> std::io::Result<Stopper>
where
    F: FnOnce(tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || runtime.block_on(task(stopped)))?;
    Ok(Stopper {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Stops a runtime thread when dropped (and waits for it, briefly).
struct Stopper {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A batch in flight is abandoned unmarked and simply sent again next time.
            let _ = thread.join();
        }
    }
}

/// The queue's uploader on its own thread; stops when dropped.
pub struct Forwarder {
    status: tokio::sync::watch::Receiver<Status>,
    _runtime: Stopper,
}

impl Forwarder {
    /// Forwards `queue` to the records back office at `records_url` from now on.
    pub fn start(queue: Arc<Queue>, records_url: &str) -> Result<Forwarder, String> {
        let mut config = Config::new(upload_base(records_url));
        config.request_timeout = Duration::from_secs(20);
        config.backoff_cap = Duration::from_secs(60);
        config.idle_poll = Duration::from_secs(2);
        let uploader = Uploader::new(queue, config).map_err(|e| format!("uploader: {e}"))?;
        let status = uploader.status();
        let mut watch = uploader.status();
        let runtime = spawn_runtime("records-upload", move |stopped| async move {
            let log = async move {
                let mut last = (0, 0);
                while watch.changed().await.is_ok() {
                    let s = watch.borrow().clone();
                    if (s.accepted + s.duplicates, s.quarantined) != last {
                        last = (s.accepted + s.duplicates, s.quarantined);
                        tracing::info!(target: "kiosk::records", held = last.0, quarantined = s.quarantined, pending = s.backlog.pending, "records forwarded");
                    }
                }
            };
            tokio::select! {
                _ = uploader.run(async move { let _ = stopped.await; }) => {}
                _ = log => {}
            }
        })
        .map_err(|e| format!("cannot start the uploader thread: {e}"))?;
        tracing::info!(target: "kiosk::records", url = %records_url, "forwarding the queue");
        Ok(Forwarder {
            status,
            _runtime: runtime,
        })
    }

    /// The uploader's counters and backlog.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }
}

/// The reference receiver on a loopback port (demo mode); stops when dropped.
pub struct EmbeddedReceiver {
    addr: SocketAddr,
    _runtime: Stopper,
}

impl EmbeddedReceiver {
    /// Serves a receiver whose store is the SQLite file `db` (created owner-only in its
    /// folder), with `queue`'s terminal enrolled under the queue's first key.
    pub fn start(db: &Path, queue: &Queue) -> Result<EmbeddedReceiver, String> {
        use kiosk_backoffice::{Limits, Policy, TerminalKey};
        // Owner-only, like the queue (SQLite gives its -wal and -shm files the same mode).
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(db)
                .map_err(|e| format!("embedded back office {}: {e}", db.display()))?;
        }
        let url = db
            .to_str()
            .ok_or_else(|| format!("{}: not a UTF-8 path", db.display()))?;
        let mut store = kiosk_backoffice::open(&format!("sqlite:{url}"))
            .map_err(|e| format!("embedded back office {}: {e}", db.display()))?;
        let terminal = queue.terminal().to_string();
        let known = store
            .terminal(&terminal)
            .map_err(|e| format!("embedded back office: {e}"))?;
        if known.is_none() {
            // Later keys reach the receiver as the queue's signed rotation records.
            let key = queue
                .genesis_key()
                .map_err(|e| format!("the queue's key: {e}"))?;
            store
                .enroll(&terminal, &TerminalKey::first(&key))
                .map_err(|e| format!("embedded back office: enrolling {terminal}: {e}"))?;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("embedded back office: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("embedded back office: {e}"))?;
        let app = kiosk_backoffice::router(store, Policy::default(), Limits::default());
        let runtime = spawn_runtime("records-receiver", move |stopped| async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(target: "kiosk::records", "embedded back office: {e}");
                    return;
                }
            };
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = kiosk_backoffice::serve(listener, app, shutdown).await {
                tracing::error!(target: "kiosk::records", "embedded back office stopped: {e}");
            }
        })
        .map_err(|e| format!("cannot start the embedded back office: {e}"))?;
        tracing::info!(target: "kiosk::records", %addr, "embedded back office serving");
        Ok(EmbeddedReceiver {
            addr,
            _runtime: runtime,
        })
    }

    /// Its records upload endpoint (`http://127.0.0.1:PORT/v1/records`).
    pub fn records_url(&self) -> String {
        format!("http://{}{UPLOAD_PATH}", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_base_strips_the_endpoint() {
        assert_eq!(
            upload_base("https://bo.example/v1/records"),
            "https://bo.example"
        );
        assert_eq!(
            upload_base("https://bo.example/v1/records/"),
            "https://bo.example"
        );
        assert_eq!(
            upload_base("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
    }

    /// Records queued before and after the forwarder starts reach the embedded receiver's
    /// store (a real SQLite file, verified and acknowledged per record); a restart of both
    /// over the same files sends nothing twice.
    #[test]
    fn the_queue_drains_into_the_embedded_receiver() {
        let dir = std::env::temp_dir().join(format!("kiosk-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let open_queue = || {
            let mut cfg = kiosk_queue::QueueConfig::new(dir.join("queue.db"));
            cfg.create = true;
            cfg.terminal = Some("lib-selfcheck-01".into());
            Arc::new(Queue::open(cfg).unwrap())
        };
        let queue = open_queue();
        let payload = serde_json::json!({"item": "B001", "patron": "P001"});
        queue.enqueue("library.checkout", &payload).unwrap();
        let db = dir.join("backoffice.db");
        let held = |db: &Path| {
            let mut store = kiosk_backoffice::open(db.to_str().unwrap()).unwrap();
            store.records("lib-selfcheck-01").unwrap().len()
        };
        let wait_drained = |forwarder: &Forwarder, queue: &Queue| {
            for _ in 0..500 {
                if queue.stats().unwrap().pending == 0 && forwarder.status().accepted > 0 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("not drained: {:?}", forwarder.status());
        };
        {
            let receiver = EmbeddedReceiver::start(&db, &queue).unwrap();
            let forwarder = Forwarder::start(queue.clone(), &receiver.records_url()).unwrap();
            wait_drained(&forwarder, &queue);
            queue.enqueue("library.checkin", &payload).unwrap();
            for _ in 0..500 {
                if queue.stats().unwrap().pending == 0 && forwarder.status().accepted == 2 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(forwarder.status().accepted, 2, "{:?}", forwarder.status());
        }
        assert_eq!(held(&db), 2);
        // Restarted over the same files (the terminal is known now): nothing new, nothing twice.
        drop(queue);
        let queue = open_queue();
        queue.enqueue("library.renew", &payload).unwrap();
        let receiver = EmbeddedReceiver::start(&db, &queue).unwrap();
        let forwarder = Forwarder::start(queue.clone(), &receiver.records_url()).unwrap();
        wait_drained(&forwarder, &queue);
        drop(forwarder);
        drop(receiver);
        assert_eq!(held(&db), 3);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the store is owner-only");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
