//! Swedish names of months and weekdays, for everything users read (notices, reports, the
//! calendar CLI). One list, so every text spells them alike.

use chrono::Weekday;

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
