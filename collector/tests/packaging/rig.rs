//! What the packaging tests share: root and the Debian tools they need (a missing one fails
//! with the package to install), the repository's scripts run with their output kept, and a
//! command run inside a chroot as another user with the capability a unit grants.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Panics unless the test runs as root (dpkg into a root, chown, chroot, podman).
pub fn require_root(what: &str) {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "{what} needs root (dpkg --root, chown, chroot); CI runs as root: run the test as root"
    );
}

/// Panics naming the Debian package to install when one of `tools` (path, package) is missing.
pub fn require_tools(tools: &[(&str, &str)]) {
    for (path, package) in tools {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: apt-get install {package} (scripts/test installs it)"
        );
    }
}

/// Runs `cmd`; panics with its output unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} exited {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The standard output of `cmd` (which must exit 0) as text.
pub fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run_ok(cmd).stdout).into_owned()
}

const CAP_NET_RAW: u32 = 13;
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `argv` run as systemd would run a unit's command with `User=`, `Group=` and
/// `AmbientCapabilities=CAP_NET_RAW`, inside `root`: chroot, no supplementary groups, the
/// user's ids, CAP_NET_RAW kept as an ambient capability, the units' `UMask=0027`, a bare
/// environment.
pub fn in_chroot_as(root: &Path, uid: u32, gid: u32, argv: &[String]) -> Command {
    let root = CString::new(root.as_os_str().as_encoded_bytes()).unwrap();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    // SAFETY: only async-signal-safe system calls between fork and exec, on memory allocated
    // before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |rc: libc::c_long| {
                if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            check(libc::chroot(root.as_ptr()) as libc::c_long)?;
            check(libc::chdir(c"/".as_ptr()) as libc::c_long)?;
            libc::umask(0o027);
            check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) as libc::c_long)?;
            check(libc::setgroups(0, std::ptr::null()) as libc::c_long)?;
            check(libc::setgid(gid) as libc::c_long)?;
            check(libc::setuid(uid) as libc::c_long)?;
            let header = CapHeader {
                version: CAPABILITY_VERSION_3,
                pid: 0,
            };
            let bit = 1 << CAP_NET_RAW;
            let data = [
                CapData {
                    effective: bit,
                    permitted: bit,
                    inheritable: bit,
                },
                CapData {
                    effective: 0,
                    permitted: 0,
                    inheritable: 0,
                },
            ];
            check(libc::syscall(
                libc::SYS_capset,
                &header as *const CapHeader,
                data.as_ptr(),
            ))?;
            check(libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                CAP_NET_RAW as libc::c_ulong,
                0,
                0,
            ) as libc::c_long)
        });
    }
    cmd
}

/// Copies the shared libraries `ldd` names for `bin` into `root` at the same paths, so that
/// `bin` (a file inside `root`) runs chrooted there.
pub fn copy_libraries(bin: &Path, root: &Path) {
    let ldd = stdout_of(Command::new("ldd").arg(bin));
    for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        let dest = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(std::fs::canonicalize(lib).unwrap(), &dest)
            .unwrap_or_else(|e| panic!("cannot copy {lib} into {}: {e}", root.display()));
    }
}

/// A network namespace of the test's own with only its loopback up (`ip netns add`); deleted
/// when dropped. A container joined to it reaches nothing but itself.
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn create(name: &str) -> Netns {
        run_ok(Command::new("ip").args(["netns", "add", name]));
        let netns = Netns {
            name: name.to_string(),
        };
        run_ok(Command::new("ip").args(["-n", name, "link", "set", "lo", "up"]));
        netns
    }

    /// `/run/netns/NAME`, for `podman run --network ns:PATH`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// `f` on a thread of its own that has entered the namespace (setns affects only the
    /// calling thread), so its sockets are the namespace's.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let file = std::fs::File::open(self.path())
            .unwrap_or_else(|e| panic!("{}: {e}", self.path().display()));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    use std::os::fd::AsRawFd;
                    // SAFETY: setns on this thread with a namespace file it holds open.
                    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .unwrap()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
