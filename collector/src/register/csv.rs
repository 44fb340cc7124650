//! CSV as RFC 4180 writes it: comma-separated, fields with a comma, quote or line break quoted,
//! quotes doubled. Reading accepts the same (and CRLF line ends).

/// One row, each field quoted when it needs to be, ending in `\n`.
pub fn row(fields: &[&str]) -> String {
    let mut out = fields
        .iter()
        .map(|f| field(f))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    out
}

fn field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) || f.starts_with(' ') || f.ends_with(' ') {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

/// The rows of `text`, each with the line it starts on (1-based); blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut rows = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let mut end_row = |fields: &mut Vec<String>, cur: &mut String, start: usize| {
        fields.push(std::mem::take(cur));
        let row = std::mem::take(fields);
        if !(row.len() == 1 && row[0].is_empty()) {
            rows.push((start, row));
        }
    };
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                cur.push(c);
            }
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut cur)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                end_row(&mut fields, &mut cur, start);
                line += 1;
                start = line;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(format!("line {start}: a quoted field is not closed"));
    }
    if !cur.is_empty() || !fields.is_empty() {
        end_row(&mut fields, &mut cur, start);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_round_trip() {
        let fields = ["a", "b,c", "say \"hi\"", "two\nlines", "", " pad"];
        let text = row(&fields) + &row(&["x"]);
        let rows = parse(&text).unwrap();
        assert_eq!(rows[0].1, fields);
        assert_eq!(rows[1], (3, vec!["x".to_string()]));
        assert!(parse("\"open").is_err());
        assert_eq!(parse("a,b\r\nc,d\r\n").unwrap().len(), 2);
    }
}
