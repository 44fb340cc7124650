//! v1, v2c and v3 traps and informs from net-snmp to the agent binary: a UPS's trap counts as
//! confirmed only once snmpsim's recording (the poll) shows it; unknown senders and OIDs are
//! counted, not acted on; a flapping uplink is cut at the flood limit.

use crate::agent::{Agent, AUTH_PASS, COMMUNITY, PRIV_PASS, USER};
use crate::rig::{self, Snmpsim};

const ON_BATTERY: &str = "1.3.6.1.4.1.318.0.5";
const POWER_RESTORED: &str = "1.3.6.1.4.1.318.0.9";
const RFC1628_ON_BATTERY_V1_FORM: &str = "1.3.6.1.2.1.33.2.0.1";
const LINK_DOWN: &str = "1.3.6.1.6.3.1.1.5.3";
const UNKNOWN: &str = "1.3.6.1.4.1.99999.0.1";

fn ups_device(port: u16) -> String {
    format!(
        "  - id: ups\n    class: ups\n    address: 127.0.0.1\n    interval: 1h\n    checks:\n      \
         - kind: snmp\n        port: {port}\n        credentials: sim\n"
    )
}

fn v2c_trap(agent: &Agent, oid: &str) {
    agent.send("snmptrap", &["-v", "2c", "-c", COMMUNITY, "@", "", oid]);
}

const V3: [&str; 10] = [
    "-v", "3", "-u", USER, "-l", "authPriv", "-a", "SHA", "-x", "AES",
];

fn v3_args<'a>(tail: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = V3.to_vec();
    args.extend(["-A", AUTH_PASS, "-X", PRIV_PASS]);
    args.extend(tail);
    args
}

fn degraded(agent: &Agent) -> bool {
    agent
        .metrics()
        .lines()
        .filter(|l| l.starts_with("probe_degraded{") && l.contains("device=\"ups\""))
        .any(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) == Some(1.0))
}

#[test]
fn an_apc_trap_is_confirmed_only_once_the_poll_shows_the_ups_on_battery() {
    let sim = Snmpsim::start(&["ups-apc-mains.snmprec"]);
    let agent = Agent::start("ups-apc-mains", &ups_device(sim.port), "");

    // On mains: the trap says battery, the poll says mains. Nothing raised, one counted line.
    v2c_trap(&agent, ON_BATTERY);
    agent.wait_count("unconfirmed", 1);
    assert_eq!(agent.traps("confirmed"), 0);
    assert!(!degraded(&agent), "{}", agent.metrics());

    let battery = std::fs::read_to_string(rig::data_dir().join("ups-apc-battery.snmprec"))
        .expect("battery recording");
    sim.replace("ups-apc-mains", &battery);

    // v2c trap: the poll it triggers shows the battery; its result is in at once.
    v2c_trap(&agent, ON_BATTERY);
    agent.wait_count("confirmed", 1);
    assert!(degraded(&agent), "the poll's result: {}", agent.metrics());

    // v1 (enterprise apc, specific 5: the same trap), and the RFC 1628 trap in upsTraps.0.N form.
    let v1 = [
        "-v",
        "1",
        "-c",
        COMMUNITY,
        "@",
        "1.3.6.1.4.1.318",
        "",
        "6",
        "5",
        "",
    ];
    agent.send("snmptrap", &v1);
    agent.wait_count("confirmed", 2);
    v2c_trap(&agent, RFC1628_ON_BATTERY_V1_FORM);
    agent.wait_count("confirmed", 3);

    // v2c inform: snmpinform exits 0 only once the agent acknowledged it.
    let inform = [
        "-v", "2c", "-c", COMMUNITY, "-r", "1", "-t", "3", "@", "", ON_BATTERY,
    ];
    agent.send("snmpinform", &inform);
    agent.wait_count("confirmed", 4);

    // v3 authPriv trap (the sender's engine id comes with it) and inform (the receiver's
    // engine id discovered by the sender).
    let trap = v3_args(&["-e", "0x80001f8804736e6d70", "@", "", ON_BATTERY]);
    agent.send("snmptrap", &trap);
    agent.wait_count("confirmed", 5);
    let inform = v3_args(&["-r", "1", "-t", "3", "@", "", ON_BATTERY]);
    agent.send("snmpinform", &inform);
    agent.wait_count("confirmed", 6);

    // Power restored while the poll still shows battery: unconfirmed.
    v2c_trap(&agent, POWER_RESTORED);
    agent.wait_count("unconfirmed", 2);

    // A wrong community is dropped unseen; an unknown OID from the UPS is counted.
    agent.send(
        "snmptrap",
        &["-v", "2c", "-c", "wrong", "@", "", ON_BATTERY],
    );
    v2c_trap(&agent, UNKNOWN);
    agent.wait_count("unknown_oid", 1);
    // An unknown sender (another loopback address) is counted, not polled.
    let other = [
        "--clientaddr=127.0.0.3",
        "-v",
        "2c",
        "-c",
        COMMUNITY,
        "@",
        "",
        ON_BATTERY,
    ];
    agent.send("snmptrap", &other);
    agent.wait_count("unknown_sender", 1);
    assert_eq!(agent.traps("confirmed"), 6, "{}", agent.metrics());
    assert_eq!(agent.traps("unconfirmed"), 2);
    assert_eq!(agent.traps("flooded"), 0);
    let log = agent.log();
    assert!(log.contains("trap not confirmed by the poll"), "{log}");
    assert!(log.contains("unknown_sender"), "{log}");
}

#[test]
fn link_down_on_an_uplink_is_confirmed_and_a_flapping_port_is_cut_at_the_flood_limit() {
    let sim = Snmpsim::start(&["switch-uplink-down.snmprec"]);
    let device = format!(
        "  - id: sw\n    class: switch\n    address: 127.0.0.1\n    interval: 1h\n    checks:\n      \
         - kind: snmp\n        port: {}\n        credentials: sim\n        uplinks: [Gi0/2]\n",
        sim.port
    );
    let agent = Agent::start("switch-uplink-down", &device, "    flood_limit: 3\n");
    v2c_trap(&agent, LINK_DOWN);
    agent.wait_count("confirmed", 1);
    // linkUp while the poll shows the uplink down: not confirmed.
    v2c_trap(&agent, "1.3.6.1.6.3.1.1.5.4");
    agent.wait_count("unconfirmed", 1);
    for _ in 0..5 {
        v2c_trap(&agent, LINK_DOWN);
    }
    agent.wait_count("flooded", 4);
    agent.wait_count("confirmed", 2);
    assert_eq!(agent.traps("unconfirmed"), 1);
}
