//! Secret files as the binaries accept them (readable by the owner only), and copies of the
//! binaries for another user to run.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Writes `text` to `path`, readable by the owner only (secret files are refused otherwise).
pub fn owner_only(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Writes the secret `value` to `dir/name`, owner-only; returns the path as text.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    owner_only(&path, value);
    path.display().to_string()
}

/// Copies the executable `from` to `to` (mode 0755, for a user who cannot reach `from`) and
/// returns once the copy can be executed. Tests of one binary run in threads of one process: a
/// child another thread forked while the copy was open for writing holds that descriptor until
/// it execs, and an exec of the copy meanwhile fails with "Text file busy" (ETXTBSY). Once one
/// exec succeeds no writer is left, and none can come.
pub fn executable_copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = Command::new(to)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match run {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot run the copy {}: {e}", to.display()),
            Ok(_) => return,
        }
    }
}
