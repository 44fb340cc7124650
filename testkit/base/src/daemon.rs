//! A server program as a test's child process: its own process group (so servers that fork
//! workers, like kamailio and smbd, go with it, and smbd's `kill(0, SIGTERM)` cannot reach the
//! test), its output in a log file, started when that log shows its ready line
//! ([`Daemon::start`]) or when its TCP ports accept ([`Daemon::start_listening`]), stopped
//! (SIGTERM to the group, then SIGKILL) by [`Daemon::stop`] or on drop. A missing program fails
//! the test with what to install. Also the small helpers the peers' setups share: a folder the
//! daemons' unprivileged helpers can enter ([`open_dir`]) and a setup command that must succeed
//! ([`run`]).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server (and, for [`Daemon::start`], its throwaway folder).
pub struct Daemon {
    child: Option<Child>,
    /// The server's throwaway folder (configuration, log, pid file), when the daemon owns it.
    pub dir: Option<tempfile::TempDir>,
    what: String,
    log: PathBuf,
}

impl Daemon {
    /// A fresh folder for a server's files, before it starts.
    pub fn folder(what: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("driftvakt-{what}-"))
            .tempdir()
            .unwrap()
    }

    /// Runs `program args` in `dir` and waits (at most 15 s) until its log holds `ready`.
    /// `package` is the Debian package that installs `program`, for the message when it is
    /// missing.
    pub fn start(
        what: &str,
        program: &str,
        package: &str,
        args: &[String],
        dir: tempfile::TempDir,
        ready: &str,
    ) -> Daemon {
        let log = dir.path().join("daemon.log");
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(dir.path());
        let mut daemon = Daemon::spawn(what, &mut cmd, &log, package);
        daemon.dir = Some(dir);
        daemon.wait_for(ready);
        daemon
    }

    /// Starts `cmd` (stdout and stderr to `log`) and waits (at most 20 s) until every port in
    /// `ports` accepts on 127.0.0.1. `install` is the Debian package for the message when the
    /// program is missing.
    pub fn start_listening(
        what: &str,
        cmd: &mut Command,
        log: &Path,
        ports: &[u16],
        install: &str,
    ) -> Daemon {
        let mut daemon = Daemon::spawn(what, cmd, log, install);
        let until = Instant::now() + Duration::from_secs(20);
        for &port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                daemon.check_alive_until(until, &format!("listen on 127.0.0.1:{port}"));
            }
        }
        daemon
    }

    fn spawn(what: &str, cmd: &mut Command, log: &Path, package: &str) -> Daemon {
        let program = PathBuf::from(cmd.get_program());
        assert!(
            program.exists(),
            "{} is missing: install Debian's `{package}` package (scripts/test does it)",
            program.display()
        );
        let out = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Daemon {
            child: Some(child),
            dir: None,
            what: what.to_string(),
            log: log.to_path_buf(),
        }
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for(&mut self, ready: &str) {
        let until = Instant::now() + Duration::from_secs(15);
        while !self.log().contains(ready) {
            self.check_alive_until(until, "get ready");
        }
    }

    /// Panics with the log when the server exited or `until` passed; else sleeps a moment.
    fn check_alive_until(&mut self, until: Instant, what_for: &str) {
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            panic!(
                "{} exited ({status}) before it could {what_for}:\n{}",
                self.what,
                self.log()
            );
        }
        if Instant::now() > until {
            self.stop();
            panic!("{} did not {what_for} in time:\n{}", self.what, self.log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Stops the server and its workers and waits for them: its ports are closed after this.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group the child leads.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(5);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; whatever is left of the group is killed.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
        // Workers of the group may outlive the leader by a moment.
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes `dir` enterable by everyone (mode 0755): the daemons' helpers drop privileges.
pub fn open_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs a setup command; panics with its output when it fails.
pub fn run(cmd: &mut Command, install: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install Debian's `{install}`)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
