//! A server program as a test's child process: its own process group (so servers that fork
//! workers, like kamailio, go with it), its output in a log file in its throwaway folder,
//! started when that log shows its ready line, stopped (SIGTERM to the group, then SIGKILL) by
//! [`Daemon::stop`] or on drop. A missing program fails the test with what to install.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server and its folder.
pub struct Daemon {
    child: Option<Child>,
    /// The server's throwaway folder (configuration, log, pid file).
    pub dir: tempfile::TempDir,
    what: String,
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
        assert!(
            Path::new(program).exists(),
            "{program} is missing: install Debian's `{package}` package (scripts/test does it)"
        );
        let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
        let child = Command::new(program)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let mut daemon = Daemon {
            child: Some(child),
            dir,
            what: what.to_string(),
        };
        daemon.wait_for(ready);
        daemon
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    fn wait_for(&mut self, ready: &str) {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if self.log().contains(ready) {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.what,
                    self.log()
                );
            }
            if Instant::now() > until {
                self.stop();
                panic!("{} was not ready within 15 s:\n{}", self.what, self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
