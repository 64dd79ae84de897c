//! The field path (`links[3].mtu`) at a line and column of a YAML text.
//!
//! serde reports type errors ("invalid u32") with a location but without the
//! field; this walks the YAML events once more and names the last node that
//! starts at or before the error, so every problem names its field.

use serde_saphyr::granit_parser::{Event, Parser};

enum Frame {
    /// Path of the mapping, the key being read (None while a key is expected).
    Map(String, Option<String>),
    /// Path of the sequence and the index of the next item.
    Seq(String, usize),
}

fn join(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// Whether the whole text is well-formed YAML (scanner and parser agree).
pub(crate) fn is_well_formed(text: &str) -> bool {
    Parser::new_from_str(text).all(|item| item.is_ok())
}

/// The path one level up: `links[3].mtu` -> `links[3]`, `links[3]` -> `links`, `name` -> ``.
pub(crate) fn parent(path: &str) -> &str {
    let cut = if path.ends_with(']') {
        path.rfind('[')
    } else {
        path.rfind('.')
    };
    cut.map_or("", |i| &path[..i])
}

/// The path of the YAML node at or before `line`:`column` (both 1-based);
/// empty when the text cannot be walked that far.
pub(crate) fn field_at(text: &str, line: u32, column: u32) -> String {
    let target = (line as usize, column.saturating_sub(1) as usize);
    let mut stack: Vec<Frame> = Vec::new();
    let mut best = String::new();
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        let start = (span.start.line(), span.start.col());
        if start > target {
            break;
        }
        // The path of a node event at this position, and whether it is a map key.
        let node_path = |stack: &mut Vec<Frame>, key_text: Option<&str>| -> (String, bool) {
            match stack.last_mut() {
                None => (String::new(), false),
                Some(Frame::Seq(p, i)) => {
                    let path = format!("{p}[{i}]");
                    *i += 1;
                    (path, false)
                }
                Some(Frame::Map(p, key @ None)) => {
                    let k = key_text.unwrap_or("?").to_owned();
                    let path = join(p, &k);
                    *key = Some(k);
                    (path, true)
                }
                Some(Frame::Map(p, key @ Some(_))) => {
                    let path = join(p, key.as_deref().unwrap_or("?"));
                    *key = None;
                    (path, false)
                }
            }
        };
        match event {
            Event::Scalar(value, ..) => {
                best = node_path(&mut stack, Some(&value)).0;
            }
            Event::Alias(_) => {
                best = node_path(&mut stack, None).0;
            }
            Event::MappingStart(..) => {
                let (path, _) = node_path(&mut stack, None);
                best = path.clone();
                stack.push(Frame::Map(path, None));
            }
            Event::SequenceStart(..) => {
                let (path, _) = node_path(&mut stack, None);
                best = path.clone();
                stack.push(Frame::Seq(path, 0));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_at_a_position() {
        let text = "name: x\nnodes:\n  a: {kind: router}\nlinks:\n  - {endpoints: [a, b], mtu: big}\ndns: {records: {wb.x.net: a}}\n";
        assert_eq!(field_at(text, 1, 7), "name");
        assert_eq!(field_at(text, 3, 13), "nodes.a.kind");
        assert_eq!(field_at(text, 5, 30), "links[0].mtu");
        assert_eq!(field_at(text, 5, 21), "links[0].endpoints[1]");
        assert_eq!(field_at(text, 6, 17), "dns.records[\"wb.x.net\"]");
        assert_eq!(parent("links[0].mtu"), "links[0]");
        assert_eq!(parent("links[0]"), "links");
        assert_eq!(parent("dns.records[\"a.b\"]"), "dns.records");
        assert_eq!(parent("name"), "");
        assert!(is_well_formed(text));
        assert!(!is_well_formed("a: {b: 1\nc: 2\n"));
    }
}
