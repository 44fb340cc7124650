//! Test peers for the network probes: an HTTP(S) server with a certificate made in the test,
//! and a host in a network namespace whose link can be taken down.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A certificate and key made for this test run.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A self-signed certificate for 127.0.0.1 and localhost, valid until `days` from now.
pub fn make_cert(days: i64) -> TestCert {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let end = chrono::Utc::now() + chrono::Duration::days(days);
    use chrono::Datelike;
    params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    TestCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// How the test server answers.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
            location: None,
        }
    }
}

/// Starts an HTTP server (HTTPS when `cert` is given) on 127.0.0.1; answers every request by
/// `route(path)`. Returns its port; the server lives as long as the test's runtime.
pub async fn http_server(
    cert: Option<&TestCert>,
    route: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = cert.map(tls_acceptor);
    let route = Arc::new(route);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, route) = (acceptor.clone(), route.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(stream).await {
                            answer(tls, &*route).await;
                        }
                    }
                    None => answer(stream, &*route).await,
                }
            });
        }
    });
    port
}

fn tls_acceptor(cert: &TestCert) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    route: &(dyn Fn(&str) -> Reply + Send + Sync),
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let r = route(&path);
    let location = r
        .location
        .map(|l| format!("Location: {l}\r\n"))
        .unwrap_or_default();
    let msg = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\n{location}Connection: close\r\n\r\n{}",
        r.status,
        r.body.len(),
        r.body
    );
    let _ = s.write_all(msg.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// A host in its own network namespace, joined to the root namespace by a veth pair.
pub struct NetnsHost {
    pub name: String,
    pub veth_root: String,
    pub host_ip: String,
    pub root_ip: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (install Debian's iproute2 package): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetnsHost {
    /// Creates namespace `dvt<tag>` with address 10.199.`subnet`.2/30, the root side .1.
    /// Fails (with what to do) where namespaces cannot be made: this test needs root.
    pub fn create(tag: &str, subnet: u8) -> NetnsHost {
        let name = format!("dvt{tag}{}", std::process::id() % 10_000);
        let host = NetnsHost {
            veth_root: format!("{name}r"),
            host_ip: format!("10.199.{subnet}.2"),
            root_ip: format!("10.199.{subnet}.1"),
            name,
        };
        host.teardown();
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), host.name.clone()],
            vec![
                "link".into(),
                "add".into(),
                host.veth_root.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                format!("{}h", host.name),
                "netns".into(),
                host.name.clone(),
            ],
            vec![
                "addr".into(),
                "add".into(),
                format!("{}/30", host.root_ip),
                "dev".into(),
                host.veth_root.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                host.veth_root.clone(),
                "up".into(),
            ],
            vec![
                "-n".into(),
                host.name.clone(),
                "addr".into(),
                "add".into(),
                format!("{}/30", host.host_ip),
                "dev".into(),
                format!("{}h", host.name),
            ],
            vec![
                "-n".into(),
                host.name.clone(),
                "link".into(),
                "set".into(),
                format!("{}h", host.name),
                "up".into(),
            ],
            vec![
                "-n".into(),
                host.name.clone(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        ];
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            if let Err(e) = ip(&args) {
                panic!("cannot build the namespace host (needs root and iproute2): {e}");
            }
        }
        host.assert_routed();
        host
    }

    /// Refuses to go on unless the route to the host goes out through its own veth.
    pub fn assert_routed(&self) {
        let out = Command::new("ip")
            .args(["route", "get", &self.host_ip])
            .output()
            .unwrap();
        let route = String::from_utf8_lossy(&out.stdout);
        assert!(
            route.contains(&format!("dev {}", self.veth_root)),
            "route to {} does not go through {}: {route}",
            self.host_ip,
            self.veth_root
        );
    }

    /// Takes the host's link down (inside its namespace).
    pub fn link_down(&self) {
        ip(&[
            "-n",
            &self.name,
            "link",
            "set",
            &format!("{}h", self.name),
            "down",
        ])
        .unwrap();
    }

    /// Brings the link back and flushes the root side's neighbour entry.
    pub fn link_up(&self) {
        ip(&[
            "-n",
            &self.name,
            "link",
            "set",
            &format!("{}h", self.name),
            "up",
        ])
        .unwrap();
        let _ = ip(&["neigh", "flush", "dev", &self.veth_root]);
        std::thread::sleep(Duration::from_millis(50));
    }

    fn teardown(&self) {
        let _ = ip(&["link", "del", &self.veth_root]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        self.teardown();
    }
}
