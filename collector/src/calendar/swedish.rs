//! Every Swedish name a reader meets, in one place: months and weekdays, dates, times and
//! durations as Swedish text, device classes ("nätverksswitch", "accesspunkt"), the states of
//! devices and services ("Nere", "Okänt"), alert kinds, the wire's error kinds and the agent's
//! finding codes. Pages, mails, alerts, channels and reports all name things through here, so
//! no English machine name ("access_point", "down") reaches a Swedish text and every text spells
//! them alike. Machine names stay in JSON, CSV columns, metrics and logs.

use crate::availability::Health;
use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use driftvakt_common::DeviceClass;

/// Month names, January first.
pub const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// The Swedish name of month `month0` (0 = januari).
pub fn month(month0: u32) -> &'static str {
    MONTHS[month0 as usize % 12]
}

/// The Swedish name of a weekday, lower case: "tisdag".
pub fn weekday(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "måndag",
        Weekday::Tue => "tisdag",
        Weekday::Wed => "onsdag",
        Weekday::Thu => "torsdag",
        Weekday::Fri => "fredag",
        Weekday::Sat => "lördag",
        Weekday::Sun => "söndag",
    }
}

/// `t` in `tz` as Swedish text: "tisdag 17 mars 2026 kl. 18.00".
pub fn date_time_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!("{} kl. {:02}.{:02}", date_sv(t, tz), l.hour(), l.minute())
}

/// `t`'s date in `tz`: "tisdag 17 mars 2026".
pub fn date_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!(
        "{} {} {} {}",
        weekday_sv(l.weekday()),
        l.day(),
        month(l.month0()),
        l.year()
    )
}

/// `t` in `tz`, short (an SMS): "7/12 kl. 03.12".
pub fn short_date_time_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!("{}/{} kl. {}", l.day(), l.month(), time_sv(t, tz))
}

/// The time of day of `t` in `tz`: "18.00".
pub fn time_sv(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!("{:02}.{:02}", l.hour(), l.minute())
}

/// The Swedish name of a weekday (see [`weekday`]).
pub fn weekday_sv(w: Weekday) -> &'static str {
    weekday(w)
}

/// A span as Swedish text: "1 timme 23 minuter", "2 dagar 3 timmar", "mindre än en minut".
pub fn duration_sv(d: chrono::Duration) -> String {
    duration_minutes_sv(d.num_minutes())
}

/// `minutes` as Swedish text (see [`duration_sv`]).
pub fn duration_minutes_sv(minutes: i64) -> String {
    if minutes < 1 {
        return "mindre än en minut".to_string();
    }
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(unit(days, "dag", "dagar"));
    }
    if hours > 0 {
        parts.push(unit(hours, "timme", "timmar"));
    }
    if mins > 0 && days == 0 {
        parts.push(unit(mins, "minut", "minuter"));
    }
    parts.join(" ")
}

fn unit(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Names as a Swedish list: "A", "A och B", "A, B och C".
pub fn list_sv(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} och {last}", rest.join(", ")),
    }
}

/// A device class as a Swedish reader names it, lower case: "nätverksswitch", "accesspunkt".
pub fn class_sv(c: DeviceClass) -> &'static str {
    match c {
        DeviceClass::Switch => "nätverksswitch",
        DeviceClass::Ups => "UPS",
        DeviceClass::AccessPoint => "accesspunkt",
        DeviceClass::Printer => "skrivare",
        DeviceClass::Screen => "skärm",
        DeviceClass::Service => "tjänst",
    }
}

/// A device class by its configuration name (`access_point`), for what keeps the class as
/// text (events, the report); a name this version does not know is given as it is.
pub fn class_name_sv(name: &str) -> &str {
    DeviceClass::ALL
        .into_iter()
        .find(|c| c.as_str() == name)
        .map_or(name, |c| class_sv(c))
}

/// A state of a device or service, capitalised as a table cell or badge shows it.
pub fn state_sv(s: Health) -> &'static str {
    match s {
        Health::Up => "I drift",
        Health::Degraded => "Nedsatt",
        Health::Down => "Nere",
        Health::Unreachable => "Nås inte",
        Health::Unknown => "Okänt",
    }
}

/// An alert kind by its tag (`down`, `on_battery`, the on-call cases' `kinds`), lower case.
pub fn alert_kind_sv(tag: &str) -> &str {
    match tag {
        "down" => "svarar inte",
        "on_battery" => "UPS går på batteri",
        "runtime_below_minimum" => "för kort UPS-reserv",
        "supply_low" => "låg nivå förbrukningsmaterial",
        "cert_expiring" => "certifikatet går snart ut",
        "battery_replace" => "UPS-batteriet behöver bytas",
        "self_test_failed" => "UPS-självtestet misslyckades",
        "agent_fault" => "agenten kan inte mäta",
        other => other,
    }
}

/// Why a check failed or found something, by the wire's error kind or the agent's finding
/// code, lower case; an unknown one is given as it is.
pub fn cause_sv(code: &str) -> &str {
    match code {
        "timeout" => "inget svar inom tidsgränsen",
        "connection_refused" => "anslutningen nekades",
        "unreachable" => "nås inte",
        "dns_failure" => "namnet kunde inte slås upp",
        "permission_denied" => "agenten saknar behörighet",
        "tls_error" => "TLS-fel",
        "http_status" => "fel HTTP-status",
        "body_mismatch" => "oväntat svar",
        "not_blocked" => "webbfiltret släppte igenom en adress det ska blockera",
        "value_too_old" => "uppgiften är för gammal",
        "login_failed" => "inloggningen misslyckades",
        "packet_loss" => "paketförlust",
        "snmp_auth" => "SNMP-inloggningen nekades",
        "snmp_error" => "SNMP-fel",
        "no_such_object" => "SNMP-värdet saknas",
        "config_error" => "fel i kontrollens inställningar",
        "io_error" => "in- eller utmatningsfel",
        "agent_resources" => "agenten saknar resurser",
        "agent_error" => "fel i agenten",
        "dns_rcode" => "DNS-servern svarade med fel",
        "answer_mismatch" => "DNS-svaret saknar väntad post",
        "sip_status" => "växeln svarade med fel SIP-status",
        "auth_failed" => "inloggningen nekades",
        "not_member" => "testkontot saknar gruppens behörighet",
        "protocol_error" => "servern svarade oväntat",
        "file_error" => "filen kunde inte sparas, läsas eller tas bort",
        "failed" => "fel",
        "ups_on_battery" => "UPS går på batteri",
        "ups_runtime_below_minimum" => "för kort UPS-reserv",
        "ups_battery_low" => "UPS-batteriet är svagt",
        "ups_battery_replace" => "UPS-batteriet behöver bytas",
        "ups_self_test_failed" => "UPS-självtestet misslyckades",
        "printer_supply_low" => "låg nivå förbrukningsmaterial",
        "printer_down" => "skrivaren är ur funktion",
        "tls_certificate_expiring" => "certifikatet går snart ut",
        "tls_certificate_expired" => "certifikatet har gått ut",
        "uplink_down" => "en upplänk är nere",
        "uplink_not_found" => "upplänken hittas inte",
        "rebooted" => "enheten har startat om",
        other => other,
    }
}

/// Several causes as stored (`ups_on_battery,ups_battery_low`), each in Swedish.
pub fn causes_sv(codes: &str) -> String {
    codes
        .split(',')
        .map(cause_sv)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod names {
    use super::*;

    #[test]
    fn every_class_state_and_wire_error_has_a_swedish_name() {
        for c in DeviceClass::ALL {
            assert_ne!(class_sv(c), c.as_str().replace('_', " "), "{c}");
            assert_eq!(class_name_sv(c.as_str()), class_sv(c));
        }
        assert_eq!(class_name_sv("access_point"), "accesspunkt");
        assert_eq!(class_name_sv("switch"), "nätverksswitch");
        for k in driftvakt_common::wire::ErrorKind::ALL {
            assert_ne!(cause_sv(k.as_str()), k.as_str(), "{k:?}");
        }
        for code in [
            driftvakt_common::readings::UPS_ON_BATTERY,
            driftvakt_common::readings::UPS_RUNTIME_BELOW_MINIMUM,
            driftvakt_common::readings::UPS_BATTERY_LOW,
            driftvakt_common::readings::UPS_BATTERY_REPLACE,
            driftvakt_common::readings::UPS_SELF_TEST_FAILED,
            driftvakt_common::readings::PRINTER_SUPPLY_LOW,
            driftvakt_common::readings::TLS_CERTIFICATE_EXPIRING,
        ] {
            assert_ne!(cause_sv(code), code);
        }
        assert_eq!(state_sv(Health::Down), "Nere");
        assert_eq!(alert_kind_sv("down"), "svarar inte");
        assert_eq!(
            causes_sv("ups_on_battery,ups_battery_low"),
            "UPS går på batteri, UPS-batteriet är svagt"
        );
    }
}
