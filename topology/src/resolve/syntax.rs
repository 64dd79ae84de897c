//! A serde-saphyr error (YAML syntax, unknown field, wrong type) as one
//! located problem.

use crate::error::Problem;
use crate::locate;

/// A serde-saphyr error as one problem: location plus the message without
/// the rendered source snippet (the CLI prints `file:line:col`).
pub fn syntax_problem(err: &serde_saphyr::Error, text: &str) -> Problem {
    let loc = err.location();
    let mut message = err.without_snippet().to_string();
    // The library appends " at line L, column C"; the location is in front already.
    if let Some(l) = loc {
        for suffix in [
            format!(" at line {}, column {}", l.line(), l.column()),
            format!(" at line {} column {}", l.line(), l.column()),
        ] {
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
    }
    // Library advice that does not apply to a topology file.
    if let Some(i) = message.find(", set DuplicateKeyPolicy") {
        message.truncate(i);
    }
    let (line, column) = loc.map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
    // YAML syntax errors have no field; a missing field is named inside its
    // mapping; type errors name the value serde stopped at.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let field = if line == 0 || !locate::is_well_formed(text) {
        String::new()
    } else if let Some(name) = missing {
        // serde points at the last key it read in the mapping missing the field.
        let last_key = locate::field_at(text, line, column);
        let parent = locate::parent(&last_key);
        if parent.is_empty() {
            name
        } else {
            format!("{parent}.{name}")
        }
    } else {
        locate::field_at(text, line, column)
    };
    Problem {
        line,
        column,
        field,
        message,
    }
}
