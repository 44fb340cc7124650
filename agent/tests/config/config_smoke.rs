use driftvakt_agent::config::{AgentConfig, CheckSpec};
use std::io::Write;

fn load(yaml: &str) -> Result<AgentConfig, String> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(yaml.as_bytes()).unwrap();
    AgentConfig::load(f.path()).map_err(|e| e.to_string())
}

#[test]
fn plain_and_full_checks() {
    let c = load("agent:\n  id: a\ndevices:\n  - id: d\n    class: printer\n    address: 127.0.0.1\n    checks:\n      - icmp\n      - kind: tcp\n        port: 9100\n").unwrap();
    let checks = c.file.devices[0].checks();
    assert!(matches!(checks[0], CheckSpec::Icmp(_)));
    assert!(matches!(&checks[1], CheckSpec::Tcp(t) if t.port == Some(9100)));
    let e = load("agent:\n  id: a\ndevices:\n  - id: d\n    class: printer\n    address: 127.0.0.1\n    checks:\n      - kind: tcp\n        prot: 9100\n").unwrap_err();
    println!("{e}");
    assert!(e.contains(":9:") || e.contains(":8:"), "{e}");
    let e = load("agent:\n  id: a\ndevices:\n  - id: d\n    class: printer\n    address: 127.0.0.1\n    checks: [icmpp]\n").unwrap_err();
    println!("{e}");
}
