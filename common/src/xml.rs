//! Text that XML 1.0 can carry, and so the Atom feed, the pages (HTML) and the mails: every
//! character but the C0 controls other than tab, line feed and carriage return (U+0001–U+0008,
//! U+000B, U+000C, U+000E–U+001F, and NUL) and the non-characters U+FFFE and U+FFFF. A single
//! such character makes a whole feed "not well-formed" for every reader.
//!
//! Text people type is refused at the door ([`first_unfit`]: the collector's API and CLI
//! answer naming the field); text that reaches a page, a feed or a mail by another road (stored
//! before the check, device names, agents' details) is made fit where it is rendered
//! ([`fit`]), the same way for all three.

use std::borrow::Cow;

/// Whether XML 1.0 can carry `c`.
pub fn carries(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// The first character of `s` that XML cannot carry.
pub fn first_unfit(s: &str) -> Option<char> {
    s.chars().find(|&c| !carries(c))
}

/// Why `s` is refused, naming `field` and the character, if it holds one XML cannot carry:
/// "title holds U+000B, a control character (a line break pasted from a word processor?) that
/// the feed, the pages and the mails cannot carry".
pub fn refusal(field: &str, s: &str) -> Option<String> {
    let c = first_unfit(s)?;
    Some(format!(
        "{field} holds U+{:04X}, a control character (a line break pasted from a word \
         processor?) that the feed, the pages and the mails cannot carry: remove it",
        c as u32
    ))
}

/// `s` with what XML cannot carry replaced: a vertical tab or form feed (the line and page
/// breaks of word processors) by a line break, anything else by U+FFFD (�). Borrowed when
/// nothing needs replacing, which is almost always.
pub fn fit(s: &str) -> Cow<'_, str> {
    if first_unfit(s).is_none() {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                c if carries(c) => c,
                '\u{B}' | '\u{C}' => '\n',
                _ => '\u{FFFD}',
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_characters_xml_refuses() {
        for c in [
            '\u{0}', '\u{1}', '\u{8}', '\u{B}', '\u{C}', '\u{1F}', '\u{FFFE}', '\u{FFFF}',
        ] {
            assert!(!carries(c), "{c:?}");
        }
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            'å',
            '\u{85}',
            '\u{FFFD}',
            '\u{1F600}',
        ] {
            assert!(carries(c), "{c:?}");
        }
    }

    #[test]
    fn refusal_names_field_and_character() {
        assert_eq!(refusal("title", "Fast telefoni"), None);
        let why = refusal("title", "Fast\u{B}telefoni").unwrap();
        assert!(why.starts_with("title holds U+000B"), "{why}");
    }

    #[test]
    fn fit_replaces_only_what_xml_cannot_carry() {
        assert!(matches!(fit("Störning\ti matsalen"), Cow::Borrowed(_)));
        assert_eq!(
            fit("rad 1\u{B}rad 2\u{1}\u{FFFF}"),
            "rad 1\nrad 2\u{FFFD}\u{FFFD}"
        );
    }
}
