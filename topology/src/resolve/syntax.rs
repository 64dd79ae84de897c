//! A serde-saphyr error (YAML syntax, unknown field, wrong type) as one
//! located problem.

use serde::de::DeserializeOwned;

use crate::error::{LoadError, Problem};
use crate::locate;

/// Deserialize one YAML document of ours (a topology, a scenario, an agent
/// configuration) into its raw, span-carrying structs: an empty file (only
/// blanks and comments) is one problem saying what the file needs
/// (`needs`, e.g. "a topology needs at least `name` and `nodes`"); a syntax
/// or type error is one located problem.
pub fn parse_document<T: DeserializeOwned>(
    text: &str,
    file: &str,
    needs: &str,
) -> Result<T, LoadError> {
    let invalid = |problem| LoadError::Invalid {
        file: file.to_owned(),
        problems: vec![problem],
    };
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank {
        return Err(invalid(Problem {
            line: 1,
            column: 1,
            field: String::new(),
            message: format!("the file is empty: {needs}"),
        }));
    }
    serde_saphyr::from_str(text).map_err(|e| invalid(syntax_problem(&e, text)))
}

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
    let message = with_suggestion(message);
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

/// serde's "unknown field `sidd`, expected one of kind, sid, ..." (and
/// "unknown variant" for kinds and other enums) with the nearest expected
/// name: "unknown field `sidd` (did you mean `sid`?), expected one of ...".
fn with_suggestion(message: String) -> String {
    let Some((head, expected)) = message.split_once(", expected ") else {
        return message;
    };
    let Some(word) = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| head.strip_prefix(p))
        .and_then(|rest| rest.strip_suffix('`'))
    else {
        return message;
    };
    let names: Vec<&str> = expected
        .trim_start_matches("one of ")
        .split(", ")
        .flat_map(|n| n.split(" or "))
        .map(|n| n.trim().trim_matches('`'))
        .collect();
    match super::suggest::suggest(word, names.iter().copied()) {
        Some(near) => format!("{head} (did you mean `{near}`?), expected {expected}"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::with_suggestion;

    #[test]
    fn unknown_fields_and_variants_get_the_nearest_expected_name() {
        assert_eq!(
            with_suggestion("unknown field `sidd`, expected one of kind, sid, locator".into()),
            "unknown field `sidd` (did you mean `sid`?), expected one of kind, sid, locator"
        );
        assert_eq!(
            with_suggestion("unknown variant `rooter`, expected `router` or `host`".into()),
            "unknown variant `rooter` (did you mean `router`?), expected `router` or `host`"
        );
        let far = "unknown variant `switch`, expected one of router, host".to_string();
        assert_eq!(with_suggestion(far.clone()), far);
        let other = "invalid type: string, expected a number".to_string();
        assert_eq!(with_suggestion(other.clone()), other);
    }
}
