//! What the collector core tells the notifier: state changes of services, sites and devices,
//! and planned maintenance. Events are facts ("the wireless network in Tranemo has been down
//! since 14:02"); deciding whom to tell, when, and whether at all is `notify::policy`'s job.

use crate::calendar::Window;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A state change the notifier may tell people about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A service (an "intefunktion": wireless network, printing, ...) stopped working.
    ServiceDown {
        service_id: String,
        /// Swedish display name, e.g. "Trådlöst nätverk".
        service_name: String,
        municipality: String,
        /// Sites where it does not work; their names are used in the notice.
        site_ids: Vec<String>,
        /// Display names of those sites (same order); may be empty.
        #[serde(default)]
        site_names: Vec<String>,
        since: DateTime<Utc>,
        /// The device found to be the root cause, if known.
        cause_device: Option<String>,
        /// For a function (`kind: function`): the agreement's item in Swedish; the service desk
        /// is told too, since an intefunktion case is theirs to handle.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        function: Option<String>,
        /// For a function's case the service desk registered by hand: its title ("Ingen kan
        /// skriva ut").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        case_title: Option<String>,
    },
    /// The service works again.
    ServiceUp {
        service_id: String,
        service_name: String,
        municipality: String,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// A site's node switch is down: one notice for the site, not one per device behind it.
    SiteDark {
        site_id: String,
        site_name: String,
        municipality: String,
        node_switch: String,
        since: DateTime<Utc>,
        /// Devices behind the node switch; their own `Down` alerts are dropped while the site is
        /// dark.
        unreachable_children: Vec<String>,
    },
    /// The site's node switch answers again.
    SiteBack {
        site_id: String,
        site_name: String,
        municipality: String,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// Something is wrong with one device.
    DeviceAlert {
        device_id: String,
        /// Name or description people recognise ("Skrivare plan 2, Stadshuset").
        device_name: String,
        /// Device class: switch, ups, access_point, printer, screen, ...
        class: String,
        site_id: String,
        site_name: String,
        municipality: String,
        kind: AlertKind,
        since: DateTime<Utc>,
        /// Free text for the service desk (Swedish), e.g. "Svarar inte på ping".
        detail: String,
    },
    /// The device alert of `kind` no longer applies.
    DeviceAlertCleared {
        device_id: String,
        kind: AlertKind,
        until: DateTime<Utc>,
    },
    /// Planned maintenance to announce now (e.g. a secondary window was just activated).
    /// `municipalities` lists whom it concerns; empty means "derive from the window's scope"
    /// (`all`: every configured municipality; `municipality:X`: X; narrower scopes need the
    /// list).
    WindowAnnouncement {
        window: Window,
        #[serde(default)]
        municipalities: Vec<String>,
    },
}

/// What is wrong with a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    Down,
    /// A UPS runs on battery.
    OnBattery,
    /// A UPS at a node has less runtime than required (four hours).
    RuntimeBelowMinimum {
        minutes: u32,
        required: u32,
    },
    /// A printer supply (toner, drum, ...) is low; `ratio` is 0.0–1.0.
    SupplyLow {
        supply: String,
        ratio: f64,
    },
    /// A TLS certificate expires in `days` days.
    CertExpiring {
        days: i64,
    },
    /// A UPS says its battery needs replacing.
    BatteryReplace,
    /// A UPS's last self-test failed.
    SelfTestFailed,
    /// The *agent* cannot probe: its failures are its own (`error` is the wire's error kind,
    /// e.g. `permission_denied`), so `devices` devices are unknown. The "device" of such an
    /// alert is the agent (`agent:ID`).
    AgentFault {
        error: String,
        devices: usize,
    },
}

impl AlertKind {
    /// A stable tag, used in idempotency keys, config and the on-call case table.
    pub fn tag(&self) -> &'static str {
        match self {
            AlertKind::Down => "down",
            AlertKind::OnBattery => "on_battery",
            AlertKind::RuntimeBelowMinimum { .. } => "runtime_below_minimum",
            AlertKind::SupplyLow { .. } => "supply_low",
            AlertKind::CertExpiring { .. } => "cert_expiring",
            AlertKind::BatteryReplace => "battery_replace",
            AlertKind::SelfTestFailed => "self_test_failed",
            AlertKind::AgentFault { .. } => "agent_fault",
        }
    }

    /// What the alert says, in Swedish.
    pub fn swedish(&self) -> String {
        match self {
            AlertKind::Down => "Enheten svarar inte".to_string(),
            AlertKind::OnBattery => "UPS går på batteri".to_string(),
            AlertKind::RuntimeBelowMinimum { minutes, required } => format!(
                "UPS-reserven räcker {} (krav {})",
                crate::calendar::swedish::duration_minutes_sv(i64::from(*minutes)),
                crate::calendar::swedish::duration_minutes_sv(i64::from(*required))
            ),
            AlertKind::SupplyLow { supply, ratio } => {
                format!("Låg nivå: {supply} ({:.0} %)", ratio * 100.0)
            }
            AlertKind::CertExpiring { days } => format!("Certifikatet går ut om {days} dagar"),
            AlertKind::BatteryReplace => "UPS-batteriet behöver bytas".to_string(),
            AlertKind::SelfTestFailed => "UPS-självtestet misslyckades".to_string(),
            AlertKind::AgentFault { devices, .. } => format!(
                "Agenten kan inte mäta: {devices} {} okända",
                if *devices == 1 {
                    "enhet är"
                } else {
                    "enheter är"
                }
            ),
        }
    }
}

impl Event {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Event::ServiceDown { .. } => "service_down",
            Event::ServiceUp { .. } => "service_up",
            Event::SiteDark { .. } => "site_dark",
            Event::SiteBack { .. } => "site_back",
            Event::DeviceAlert { .. } => "device_alert",
            Event::DeviceAlertCleared { .. } => "device_alert_cleared",
            Event::WindowAnnouncement { .. } => "window_announcement",
        }
    }
}
