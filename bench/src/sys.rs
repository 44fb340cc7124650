//! What the benchmark reads from the operating system: CPU time and peak memory of processes
//! (getrusage, wait4, `/proc/PID/stat`, `/proc/PID/status`), the load average, and a description
//! of the machine, and a free loopback port.
//!
//! CPU time (user + system) is preferred over wall time throughout: other builds run on the
//! same machine, so wall-clock figures are noisy while CPU seconds of one process are not.

use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::process::Child;

/// User + system CPU seconds of this process (all threads).
pub fn self_cpu_seconds() -> f64 {
    rusage_cpu(&rusage(libc::RUSAGE_SELF))
}

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage fills a zeroed, correctly sized struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    }
}

fn rusage_cpu(ru: &libc::rusage) -> f64 {
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// How a child process ended and what it used.
#[derive(Debug, Clone, Copy)]
pub struct ChildUsage {
    pub success: bool,
    pub exit_code: i32,
    pub cpu_seconds: f64,
    pub max_rss_kib: u64,
}

/// Waits for `child` with wait4 and returns its CPU time and peak RSS. The `Child` must not be
/// waited on again afterwards.
pub fn wait_with_usage(child: &Child) -> Result<ChildUsage> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: wait4 on our own child with valid out-pointers.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::wait4(pid, &mut status, 0, &mut ru) < 0 {
            bail!("wait4({pid}): {}", std::io::Error::last_os_error());
        }
        ru
    };
    let exited = libc::WIFEXITED(status);
    let exit_code = if exited {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok(ChildUsage {
        success: exited && exit_code == 0,
        exit_code,
        cpu_seconds: rusage_cpu(&ru),
        max_rss_kib: ru.ru_maxrss as u64,
    })
}

/// Like [`wait_with_usage`], but the peak RSS is the child's own `VmHWM`, polled every
/// millisecond until it exits. (ru_maxrss of a spawned child is at least the parent's RSS at the
/// fork: Linux carries the high-water mark across exec.)
pub fn wait_polling_peak_rss(child: &Child) -> Result<ChildUsage> {
    let pid = child.id();
    let mut peak = 0;
    while !exited(pid)? {
        if let Ok(kib) = proc_status_kib(pid, "VmHWM") {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let usage = wait_with_usage(child)?;
    Ok(ChildUsage {
        max_rss_kib: peak,
        ..usage
    })
}

/// Whether the child has exited, leaving it to be reaped (waitid with WNOWAIT).
fn exited(pid: u32) -> Result<bool> {
    // SAFETY: waitid on our own child with a zeroed, correctly sized out-struct.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) < 0 {
            bail!("waitid({pid}): {}", std::io::Error::last_os_error());
        }
        Ok(info.si_pid() != 0)
    }
}

/// User + system CPU seconds of any process, from `/proc/PID/stat` (10 ms resolution).
pub fn proc_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    let after_comm = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime); `after_comm` starts at field 3.
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `VmRSS`), in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status_kib(&status, field).with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// This process's `VmHWM` or `VmRSS`, in KiB.
pub fn self_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| status_kib(&s, field))
        .unwrap_or(0)
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` shows them.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The 1-minute load average as a number.
pub fn load1() -> f64 {
    load()
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// nproc, CPU model and memory, for the report.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim())
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = status_kib(&meminfo, "MemTotal").unwrap_or(0) as f64 / 1024.0 / 1024.0;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "nproc {cpus}, {model}, {mem_gib:.1} GiB memory, Linux {}",
        kernel.trim()
    )
}

/// A free TCP port on loopback (free when asked; the caller binds it right after).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_status_and_stat() {
        assert!(self_status_kib("VmHWM") > 0);
        let pid = std::process::id();
        assert!(proc_status_kib(pid, "VmRSS").unwrap() > 0);
        assert!(proc_cpu_seconds(pid).unwrap() >= 0.0);
        assert_eq!(status_kib("VmHWM:\t  1234 kB\n", "VmHWM"), Some(1234));
    }
}
