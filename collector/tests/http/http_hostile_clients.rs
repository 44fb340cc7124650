//! The released collector fell over under slow and hostile clients: 100 unauthenticated 8 MB
//! bodies were buffered (RSS 824 MB, kept), and 1,100 idle connections at the default 1,024
//! open files made `/healthz` and agent pushes fail ("Too many open files"). Here the real
//! binaries: a `driftvakt-collector` limited to 1,024 open files (soft and hard) and a real
//! `driftvakt-agent` pushing to it, while the test opens 1,100 idle connections and sends 100
//! unauthenticated 8 MB bodies. The agent's results keep arriving, `/healthz` answers, the
//! collector stays under 200 MB and logs the failed authentications rate-limited.
//!
//! Strangers holding every connection slot (idle and trickling sockets from several loopback
//! addresses, reconnecting when closed) do not keep `/healthz` or a starting agent out: new
//! connections evict the ones that sent no request. And 100 bodies of 8 MB with a *valid* agent
//! token neither take the collector's memory (one agent's bodies in flight are bounded, memory
//! falls back after the burst) nor stop another agent's pushes.

use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::ports::{accepting_port, free_port};
use driftvakt_collector_testkit::process::*;
use driftvakt_collector_testkit::results_db::*;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn inventory(dir: &Path, tcp_port: u16, db: &Path) -> std::path::PathBuf {
    Inventory::new()
        .collector("database", db.display())
        .site("s1", "Stadshuset", "Ulricehamn")
        .tcp_device("prn1", "printer", "s1", tcp_port, "1s")
        .agent(dir, "a", TOKEN_A, "sites: [s1]")
        .write(dir)
}

/// The test process needs more than 1,100 descriptors itself.
fn raise_own_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        l.rlim_cur = l.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
    }
    assert!(
        l.rlim_cur >= 4096,
        "the test needs 4096 open files; the hard limit is {}",
        l.rlim_cur
    );
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kb / 1024.0
}

/// A client that opens a new connection for every request, with a 2 s timeout.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// `driftvakt-collector run` limited to 1,024 open files, soft and hard (960 connection
/// slots); waits for `/healthz`.
async fn start_limited_collector(
    config: &Path,
    port: u16,
    db: &Path,
    log: &Path,
) -> (Proc, reqwest::Client) {
    let mut cmd = Command::new(collector_bin());
    cmd.args(["run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--database")
        .arg(db);
    // SAFETY: setrlimit is async-signal-safe; the child gets 1,024 open files, soft and hard.
    unsafe {
        cmd.pre_exec(|| {
            let l = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut collector = Proc::spawn("collector", &mut cmd, log);
    let health = format!("http://127.0.0.1:{port}/healthz");
    let client = fresh_client();
    let up = Instant::now();
    while !client
        .get(&health)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        collector.assert_running();
        assert!(
            up.elapsed() < Duration::from_secs(20),
            "the collector did not come up: {}",
            collector.describe()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (collector, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_unauthenticated_bodies_do_not_stop_agent_pushes() {
    raise_own_limit();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dv.db");
    let port = free_port();
    let config = inventory(dir.path(), accepting_port(), &db);
    let log = dir.path().join("collector.log");
    let (mut collector, client) = start_limited_collector(&config, port, &db, &log).await;
    let pid = collector.child.id();
    let health = format!("http://127.0.0.1:{port}/healthz");
    let setup = AgentSetup {
        id: "a",
        token: TOKEN_A,
        collector_port: port,
        metrics_port: free_port(),
        batch_size: 5,
        refresh: "30s",
        devices: "",
    };
    let agent_config = write_agent(&dir.path().join("agent"), &setup);
    let _agent = start_agent(&agent_config, &dir.path().join("agent.log"));
    wait_until(
        "the agent's first results",
        Duration::from_secs(15),
        || async { stored_count(&db, "a") > 0 },
    )
    .await;

    // The attack: 100 unauthenticated 8 MB bodies and 1,100 idle connections.
    let started = Instant::now();
    let addr = format!("127.0.0.1:{port}");
    let mut bodies = Vec::new();
    for i in 0..100 {
        let addr = addr.clone();
        bodies.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(&addr).await else {
                return;
            };
            let auth = if i % 2 == 0 {
                String::new()
            } else {
                "Authorization: Bearer not-the-token-0123456789\r\n".to_string()
            };
            let head = format!(
                "POST /api/v1/results HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: {}\r\n\r\n",
                8 << 20
            );
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 256 << 10];
            for _ in 0..32 {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }));
    }
    let mut idle = Vec::new();
    for _ in 0..1100 {
        match TcpStream::connect(&addr).await {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connecting idle client {}: {e}", idle.len()),
        }
    }
    let attacked = stored_count(&db, "a");
    let mut max_rss = rss_mb(pid);
    // The agent's results keep arriving, and /healthz answers once the idle ones are dropped.
    let mut healthy = false;
    let mut grew = false;
    while !(healthy && grew) {
        collector.assert_running();
        max_rss = max_rss.max(rss_mb(pid));
        grew = grew || stored_count(&db, "a") > attacked + 5;
        if !healthy {
            healthy = client
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "after {:?}: healthz answered: {healthy}, results grew: {grew} ({attacked} -> {}); {}",
            started.elapsed(),
            stored_count(&db, "a"),
            collector.describe()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for b in &bodies {
        b.abort();
    }
    max_rss = max_rss.max(rss_mb(pid));
    let logged = read_log(&log);
    eprintln!(
        "after {:?}: results {attacked} -> {}, collector RSS at most {max_rss:.1} MB",
        started.elapsed(),
        stored_count(&db, "a")
    );
    assert!(
        max_rss < 200.0,
        "the collector's RSS reached {max_rss:.1} MB"
    );
    // Failed authentications are logged, without the token, at most a line per peer per 10 s.
    let refusals = logged
        .lines()
        .filter(|l| l.contains("failed agent authentication from 127.0.0.1"))
        .count();
    assert!((1..=5).contains(&refusals), "{refusals} lines:\n{logged}");
    assert!(!logged.contains("not-the-token-0123456789"), "{logged}");
    assert!(logged.contains("connections open (the limit)"), "{logged}");
    assert!(logged.contains("open files: limit 1024"), "{logged}");
    drop(idle);
    collector.terminate(Duration::from_secs(15));
}

/// A stranger holding one connection from `source`: idle, or (`trickle`) sending a request
/// head one byte a second; when the collector closes it, it connects again after 500 ms, at
/// most `rounds` times.
async fn stranger(
    addr: std::net::SocketAddr,
    source: std::net::IpAddr,
    trickle: bool,
    rounds: u32,
) {
    use tokio::io::AsyncReadExt;
    for _ in 0..rounds {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((source, 0).into()).unwrap();
        if let Ok(mut s) = socket.connect(addr).await {
            let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n";
            let mut buf = [0u8; 256];
            let mut sent = 0;
            loop {
                let wait = tokio::time::sleep(Duration::from_secs(1));
                tokio::select! {
                    r = s.read(&mut buf) => if !matches!(r, Ok(n) if n > 0) { break },
                    _ = wait => {
                        if trickle && sent < head.len() {
                            if s.write_all(&head[sent..sent + 1]).await.is_err() {
                                break;
                            }
                            sent += 1;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_holding_every_slot_do_not_keep_healthz_or_an_agent_out() {
    raise_own_limit();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dv.db");
    let port = free_port();
    let config = inventory(dir.path(), accepting_port(), &db);
    let log = dir.path().join("collector.log");
    let (mut collector, client) = start_limited_collector(&config, port, &db, &log).await;
    let health = format!("http://127.0.0.1:{port}/healthz");

    // 1,000 idle sockets from 127.0.0.1 and 200 trickling ones from 127.0.0.2-5: more than the
    // 960 slots, and each comes back when it is closed.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut strangers = Vec::new();
    for i in 0..1200u32 {
        let (source, trickle) = if i < 1000 {
            ([127, 0, 0, 1], false)
        } else {
            ([127, 0, 0, 2 + (i % 4) as u8], true)
        };
        strangers.push(tokio::spawn(stranger(addr, source.into(), trickle, 40)));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // /healthz answers every time, each on a new connection.
    let attacked = Instant::now();
    let mut slowest = Duration::ZERO;
    for probe in 0..10 {
        let t = Instant::now();
        let answer = client.get(&health).send().await;
        collector.assert_running();
        assert!(
            answer.as_ref().is_ok_and(|r| r.status() == 200),
            "probe {probe} {:?} into the attack: {answer:?}; {}",
            attacked.elapsed(),
            collector.describe()
        );
        slowest = slowest.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // An agent starting now gets its results in.
    let setup = AgentSetup {
        id: "a",
        token: TOKEN_A,
        collector_port: port,
        metrics_port: free_port(),
        batch_size: 5,
        refresh: "30s",
        devices: "",
    };
    let agent_config = write_agent(&dir.path().join("agent"), &setup);
    let agent_log = dir.path().join("agent.log");
    let started = Instant::now();
    let mut agent = start_agent(&agent_config, &agent_log);
    while stored_count(&db, "a") == 0 {
        agent.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no result stored {:?} after the agent started: {}\n{}",
            started.elapsed(),
            agent.describe(),
            collector.describe()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_after = started.elapsed();
    let still = strangers.iter().filter(|s| !s.is_finished()).count();
    eprintln!(
        "healthz: 10 of 10 answered, slowest {slowest:?}; the agent's first result stored \
         {in_after:?} after its start; {still} strangers still at it"
    );
    assert!(still > 1000, "the attack went on throughout: {still}");
    let logged = read_log(&log);
    assert!(
        logged.contains("connections open (the limit): closed one from 127.0.0."),
        "{logged}"
    );
    for s in &strangers {
        s.abort();
    }
    drop(agent);
    collector.terminate(Duration::from_secs(15));
}

/// Two agents: `a`, whose token the burst uses, and `b`, a normal agent; one device each.
fn two_agents(dir: &Path, tcp_port: u16) -> std::path::PathBuf {
    for (name, token) in [("a.token", TOKEN_A), ("b.token", TOKEN_B)] {
        std::fs::write(dir.join(name), token).unwrap();
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(dir.join(name), mode).unwrap(); // owner only
    }
    let text = format!(
        "sites:\n  - {{ id: s1, name: Stadshuset, municipality: Ulricehamn }}\n  - {{ id: s2, name: Biblioteket, municipality: Ulricehamn }}\ndevices:\n  - {{ id: prn1, class: printer, site: s1, address: 127.0.0.1, checks: [{{ kind: tcp, port: {tcp_port}, interval: 1s, timeout: 500ms }}] }}\n  - {{ id: prn2, class: printer, site: s2, address: 127.0.0.1, checks: [{{ kind: tcp, port: {tcp_port}, interval: 200ms, timeout: 150ms }}] }}\nagents:\n  - {{ id: a, token_file: a.token, sites: [s1] }}\n  - {{ id: b, token_file: b.token, sites: [s2] }}\n"
    );
    let path = dir.join("collector.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Sends one 8 MiB body of garbage with agent `a`'s token; the status the collector answered,
/// if one could be read.
async fn large_body(addr: String) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut s = TcpStream::connect(&addr).await.ok()?;
    let head = format!(
        "POST /api/v1/results HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN_A}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        8 << 20
    );
    s.write_all(head.as_bytes()).await.ok()?;
    let chunk = vec![b'x'; 256 << 10];
    for _ in 0..32 {
        if s.write_all(&chunk).await.is_err() {
            break;
        }
    }
    // The status line is enough.
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while answer.len() < 12 {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_large_bodies_with_an_agent_token_gives_its_memory_back() {
    raise_own_limit();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dv.db");
    let port = free_port();
    let config = two_agents(dir.path(), accepting_port());
    let log = dir.path().join("collector.log");
    let mut collector = start_collector(&config, port, &db, &log).await;
    let pid = collector.child.id();
    let setup = AgentSetup {
        id: "b",
        token: TOKEN_B,
        collector_port: port,
        metrics_port: free_port(),
        batch_size: 5,
        refresh: "30s",
        devices: "",
    };
    let agent_config = write_agent(&dir.path().join("agent"), &setup);
    let mut agent = start_agent(&agent_config, &dir.path().join("agent.log"));
    wait_until(
        "agent b's first results",
        Duration::from_secs(15),
        || async { stored_count(&db, "b") > 0 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_mb(pid);

    // 100 senders at once, each sending its next body as soon as one is answered, for 5 s.
    let addr = format!("127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(5);
    let burst: Vec<_> = (0..100)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while Instant::now() < until {
                    answers.push(large_body(addr.clone()).await);
                }
                answers
            })
        })
        .collect();
    let started = Instant::now();
    let stored_at_start = stored_count(&db, "b");
    let mut during = before;
    let mut b_grew_during = false;
    while !burst.iter().all(|b| b.is_finished()) {
        collector.assert_running();
        agent.assert_running();
        during = during.max(rss_mb(pid));
        b_grew_during = b_grew_during || stored_count(&db, "b") > stored_at_start + 5;
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the burst did not end: {}",
            collector.describe()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for b in burst {
        for a in b.await.unwrap() {
            let status = a.map_or("none".to_string(), |s| s.to_string());
            *answers.entry(status).or_default() += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_mb(pid);
    // The same bodies one after another: each is read (and refused as no batch); memory falls
    // back after each.
    let mut read = 0;
    let mut sequential = after;
    for _ in 0..10 {
        read += usize::from(large_body(addr.clone()).await == Some(400));
        sequential = sequential.max(rss_mb(pid));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let end = rss_mb(pid);
    eprintln!(
        "RSS before {before:.1} MB, at most {during:.1} MB during the burst ({took:?}), \
         {after:.1} MB 2 s after; answers {answers:?}; 10 bodies one after another: \
         {read} read, RSS at most {sequential:.1} MB, {end:.1} MB 2 s after"
    );
    assert_eq!(read, 10, "one body at a time is read");
    assert!(
        end < 200.0 && end < before + 60.0,
        "RSS {end:.1} MB after the bodies (before: {before:.1} MB)"
    );
    assert!(b_grew_during, "agent b's pushes went on during the burst");
    assert!(
        answers
            .keys()
            .all(|k| ["400", "503", "none"].contains(&k.as_str())),
        "{answers:?}"
    );
    assert!(answers.get("503").is_some_and(|&n| n > 0), "{answers:?}");
    assert!(
        during < 300.0,
        "RSS reached {during:.1} MB during the burst"
    );
    assert!(
        after < 200.0 && after < before + 60.0,
        "RSS {after:.1} MB after the burst (before: {before:.1} MB)"
    );
    let grew = stored_count(&db, "b");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(stored_count(&db, "b") > grew, "agent b still delivers");
    drop(agent);
    collector.terminate(Duration::from_secs(15));
}
