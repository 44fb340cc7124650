//! A throwaway PostgreSQL 15 for the tests that run the store against a real server: a cluster
//! made with `initdb` in a fresh temp folder (data and unix socket inside it), started with
//! `pg_ctl` as the `postgres` OS user (initdb refuses root), listening on 127.0.0.1 only on a
//! free port, trust authentication for that cluster's own loopback connections, a database per
//! test. Stopped (`pg_ctl stop -m immediate`) and removed on drop. Never touches a system
//! cluster and connects nowhere but 127.0.0.1.
//!
//! Tests running at once in one binary share a cluster ([`database`]); it stops when the last
//! of them is done. [`PgCluster::start_with_tls`] starts one of a test's own with `ssl = on` and
//! a certificate the test made, refusing clear-text TCP. A missing binary or user fails the test with what to install.
//! (The collector's `Location` of a database: `driftvakt-collector-testkit`'s `backends`.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Where Debian's `postgresql-15` puts its programs.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running throwaway cluster.
pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
    next: AtomicUsize,
}

/// One test's database on a (shared) cluster; keeps the cluster running while held.
pub struct PgDatabase {
    pub cluster: Arc<PgCluster>,
    pub name: String,
}

impl PgDatabase {
    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub fn url(&self) -> String {
        self.cluster.url(&self.name)
    }
}

/// A fresh database on the cluster shared by the tests running now.
pub fn database() -> PgDatabase {
    static SHARED: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
    let cluster = {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        match shared.upgrade() {
            Some(c) => c,
            None => {
                let c = Arc::new(PgCluster::start());
                *shared = Arc::downgrade(&c);
                c
            }
        }
    };
    let name = cluster.create_database();
    PgDatabase { cluster, name }
}

fn program(name: &str) -> PathBuf {
    let path = Path::new(BIN).join(name);
    assert!(
        path.exists(),
        "{} is missing: install Debian's `postgresql` package (PostgreSQL 15; scripts/test \
         does it: apt-get install postgresql postgresql-client)",
        path.display()
    );
    path
}

/// Runs `cmd`, failing the test with its output when it fails.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `program args…` as the `postgres` OS user.
fn as_postgres(program: &Path) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program);
    cmd
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "there is no `postgres` OS user: install Debian's `postgresql` package"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

impl PgCluster {
    /// initdb + start; about a second or two.
    pub fn start() -> PgCluster {
        let cluster = PgCluster::init();
        cluster.pg_ctl_start();
        cluster
    }

    /// As [`PgCluster::start`], with `ssl = on` serving `cert` and `key` (copied into the data
    /// folder, owned by `postgres`), and TCP connections accepted only over TLS (`hostssl`
    /// trust, `hostnossl` reject).
    pub fn start_with_tls(cert: &Path, key: &Path) -> PgCluster {
        let cluster = PgCluster::init();
        let data = cluster.data();
        let (uid, gid) = postgres_ids();
        for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
            let to = data.join(name);
            std::fs::copy(from, &to).unwrap();
            std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        cluster.pg_ctl_start();
        cluster
    }

    /// A new cluster's data folder (initdb), not started.
    fn init() -> PgCluster {
        let (initdb, _) = (program("initdb"), program("pg_ctl"));
        let dir = tempfile::Builder::new()
            .prefix("driftvakt-pg-")
            .tempdir()
            .unwrap();
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let data = dir.path().join("data");
        run(
            as_postgres(&initdb)
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres", "--locale=C", "-E", "UTF8"])
                .arg("--no-sync"),
            "initdb",
        );
        PgCluster {
            dir,
            port: crate::ports::free_port(),
            next: AtomicUsize::new(0),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts (again) on the same port.
    pub fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        run(
            as_postgres(&program("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(self.dir.path().join("log"))
                .args(["-w", "start"]),
            "pg_ctl start",
        );
    }

    /// Stops at once (as a crash would).
    pub fn pg_ctl_stop(&self) {
        self.pg_ctl_stop_mode("immediate");
    }

    /// `pg_ctl stop -m MODE` (`smart`, `fast`: sessions are ended and the server shuts down
    /// cleanly, `immediate`); [`PgCluster::pg_ctl_start`] starts it again on the same port and
    /// data folder.
    pub fn pg_ctl_stop_mode(&self, mode: &str) {
        run(
            as_postgres(&program("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", mode, "-w", "stop"]),
            &format!("pg_ctl stop -m {mode}"),
        );
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new empty database.
    pub fn create_database(&self) -> String {
        let name = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        run(
            Command::new(program("createdb"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", &name]),
            "createdb",
        );
        name
    }

    /// One SQL statement through psql; its output, unaligned without headers.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(program("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", db, "-XAtq", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres(Path::new(BIN).join("pg_ctl").as_path())
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
