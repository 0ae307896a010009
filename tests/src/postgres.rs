//! A throwaway PostgreSQL cluster for the tests that run the receiver on PostgreSQL.
//!
//! The cluster lives in a temporary directory, listens only on 127.0.0.1 on a free port (and on a
//! unix socket inside that directory), trusts local connections, and never touches the system's
//! own cluster. As root the server runs as the unprivileged `postgres` user (`runuser`), since
//! PostgreSQL refuses to run as root; otherwise as the current user. Tests share one cluster while
//! any of them holds it ([`Postgres::shared`]); it is stopped when the last holder drops it, or
//! by a watcher process when the test process dies without dropping it.
//!
//! PostgreSQL missing: under CI (`CI=true`) that is a failure, since `packaging/setup-debian.sh
//! --test` installs it; elsewhere the test is skipped with a message saying how to install it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A running throwaway cluster; stopped (`pg_ctl stop -m immediate`) and removed on drop.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    run_as: Option<&'static str>,
}

const SUPERUSER: &str = "kiosk";

/// The server binaries: `KIOSK_PG_BIN`, else the newest `/usr/lib/postgresql/N/bin` (Debian).
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KIOSK_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| d.join("initdb").exists());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    // The tests crate has no libc binding; `id -u` answers the same question.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn check(what: &str, out: std::io::Result<Output>) -> Result<(), String> {
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{what} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

impl Postgres {
    /// The cluster shared by the tests running now, started on first use. `None` (after printing
    /// why) when PostgreSQL is not installed and this is not CI; panics under CI or when the
    /// server is installed but does not start.
    pub fn shared() -> Option<Arc<Postgres>> {
        static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pg) = shared.upgrade() {
            return Some(pg);
        }
        let Some(bin) = bin_dir() else {
            let msg = "PostgreSQL server binaries not found (/usr/lib/postgresql/N/bin or \
                       KIOSK_PG_BIN); install them with `bash packaging/setup-debian.sh --test`";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg} (required under CI)");
            }
            println!("skipped: {msg}");
            return None;
        };
        let pg = Arc::new(Postgres::start(bin).unwrap_or_else(|e| panic!("PostgreSQL: {e}")));
        *shared = Arc::downgrade(&pg);
        Some(pg)
    }

    fn start(bin: PathBuf) -> Result<Postgres, String> {
        let run_as = is_root().then_some("postgres");
        let dir = tempfile::Builder::new()
            .prefix("kiosk-pg-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        if let Some(user) = run_as {
            check(
                "chown of the cluster directory",
                Command::new("chown")
                    .arg(format!("{user}:"))
                    .arg(dir.path())
                    .output(),
            )?;
        }
        let mut pg = Postgres {
            bin,
            dir,
            port: 0,
            run_as,
        };
        let data = pg.data_dir();
        check(
            "initdb",
            pg.server_cmd("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync"])
                .output(),
        )?;
        // A port picked free can be taken before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            pg.port = free_port();
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=50",
                pg.port,
                pg.dir.path().display()
            );
            let started = pg
                .server_cmd("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(pg.dir.path().join("server.log"))
                .args(["-o", &opts, "-w", "-t", "60", "start"])
                .stdin(Stdio::null())
                .output();
            match check("pg_ctl start", started) {
                Ok(()) => {
                    pg.watch_for_exit();
                    return Ok(pg);
                }
                Err(e) => {
                    let log = std::fs::read_to_string(pg.dir.path().join("server.log"))
                        .unwrap_or_default();
                    last = format!("{e}\nserver log:\n{log}");
                }
            }
        }
        Err(last)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Drop does not run when the test process is killed (a `timeout`, a Ctrl-C): a small
    /// watcher stops the server and removes its directory once this process is gone, so no
    /// cluster outlives the test run.
    // The watcher must outlive this process, so it is never waited for.
    #[allow(clippy::zombie_processes)]
    fn watch_for_exit(&self) {
        let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        let stop = match self.run_as {
            Some(user) => format!("runuser -u {user} -- "),
            None => String::new(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {stop}{pg_ctl} -D {data} -m immediate stop; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = q(&self.bin.join("pg_ctl")),
            data = q(&self.data_dir()),
            dir = q(self.dir.path()),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// A server program, run as the cluster's owner.
    fn server_cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    /// The cluster directory (data, log, socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a fresh database and returns its `postgres://` URL.
    pub fn create_db(&self, prefix: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{}_{}_{}",
            prefix
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER, &name])
            .output();
        check("createdb", out).unwrap_or_else(|e| panic!("{e}"));
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
