//! Functions: the framework assignment's fourteen "intefunktion" items (what a user needs to
//! work: log in, print, save to P and G, ...), each measured per municipality as a service of
//! `kind: function` whose members are the devices probing it. The collector derives a
//! function's health from its members like any service's, so it never cares which probe kind
//! (dns, ldap, smb, radius, sip, imap, smtp, http, ...) a member's check uses; a function that
//! goes down opens an intefunktion case (`report::intefunktion`).

use serde::{Deserialize, Serialize};

/// Whether a service is an ordinary service or one of the agreement's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    #[default]
    Service,
    Function,
}

/// One item of the agreement's "intefunktion" list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionItem {
    /// The workstation starts and the user can log in.
    Login,
    /// Permissions to the right information for the role (behörighet).
    Permissions,
    /// Printing on network printers.
    Printing,
    /// Saving to the personal and shared folders (P and G).
    Save,
    /// Restoring from the personal and shared folders (P and G).
    Restore,
    /// Client and spam protection up to date.
    Protection,
    /// The web filter blocks what it should.
    WebFilter,
    /// The wireless network.
    Wireless,
    /// Fixed telephony and the switchboard's referral system.
    Telephony,
    /// E-mail with calendar.
    Email,
    /// The guide platform (Infocaption).
    Guides,
    /// The Office programs start.
    Office,
    /// Remote access.
    RemoteAccess,
    /// Software distribution.
    SoftwareDistribution,
}

impl FunctionItem {
    /// Every item, in the agreement's order.
    pub const ALL: [FunctionItem; 14] = [
        FunctionItem::Login,
        FunctionItem::Permissions,
        FunctionItem::Printing,
        FunctionItem::Save,
        FunctionItem::Restore,
        FunctionItem::Protection,
        FunctionItem::WebFilter,
        FunctionItem::Wireless,
        FunctionItem::Telephony,
        FunctionItem::Email,
        FunctionItem::Guides,
        FunctionItem::Office,
        FunctionItem::RemoteAccess,
        FunctionItem::SoftwareDistribution,
    ];

    /// The name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionItem::Login => "login",
            FunctionItem::Permissions => "permissions",
            FunctionItem::Printing => "printing",
            FunctionItem::Save => "save",
            FunctionItem::Restore => "restore",
            FunctionItem::Protection => "protection",
            FunctionItem::WebFilter => "web_filter",
            FunctionItem::Wireless => "wireless",
            FunctionItem::Telephony => "telephony",
            FunctionItem::Email => "email",
            FunctionItem::Guides => "guides",
            FunctionItem::Office => "office",
            FunctionItem::RemoteAccess => "remote_access",
            FunctionItem::SoftwareDistribution => "software_distribution",
        }
    }

    /// The item as the agreement words it (user-facing, Swedish).
    pub fn swedish(self) -> &'static str {
        match self {
            FunctionItem::Login => "Datorarbetsplats och inloggning",
            FunctionItem::Permissions => "Behörighet",
            FunctionItem::Printing => "Utskrift på nätverksskrivare",
            FunctionItem::Save => "Spara i personlig och gemensam mapp",
            FunctionItem::Restore => "Återställning från personlig och gemensam mapp",
            FunctionItem::Protection => "Uppdaterat klientskydd och spamskydd",
            FunctionItem::WebFilter => "Webbfilter",
            FunctionItem::Wireless => "Trådlöst nätverk",
            FunctionItem::Telephony => "Fast telefon och hänvisningssystem",
            FunctionItem::Email => "E-post med kalender",
            FunctionItem::Guides => "Infocaption (guider)",
            FunctionItem::Office => "Office-programmen",
            FunctionItem::RemoteAccess => "Mobil åtkomst på distans",
            FunctionItem::SoftwareDistribution => "Distribution av programvaror",
        }
    }
}

/// What makes a service a function: its item and the municipality whose users it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub item: FunctionItem,
    pub municipality: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourteen_distinct_items_with_names() {
        let names: std::collections::HashSet<&str> =
            FunctionItem::ALL.iter().map(|i| i.as_str()).collect();
        assert_eq!(names.len(), 14);
        for i in FunctionItem::ALL {
            let back: FunctionItem = serde_json::from_value(serde_json::json!(i.as_str())).unwrap();
            assert_eq!(back, i);
            assert!(!i.swedish().is_empty());
        }
    }
}
