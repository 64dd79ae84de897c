//! "Did you mean ...?": the nearest known name to a misspelt one.

/// The one name within edit distance 2 of `word` that is closer than all others.
pub(super) fn suggest<'a>(word: &str, names: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let mut scored: Vec<(usize, &str)> = names
        .map(|n| (edit_distance(word, n), n.as_str()))
        .filter(|&(d, _)| d <= 2)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(d, n), rest @ ..] if rest.first().is_none_or(|(d2, _)| d2 > d) => Some(n),
        _ => None,
    }
}

/// Levenshtein distance (names are short).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_only_when_unambiguous() {
        let names: Vec<String> = ["host-a", "host-b", "vpp1", "vpp2", "dns"]
            .map(String::from)
            .to_vec();
        assert_eq!(suggest("hots-a", names.iter()), Some("host-a"));
        assert_eq!(suggest("host-c", names.iter()), None);
        assert_eq!(suggest("dsn", names.iter()), Some("dns"));
        assert_eq!(suggest("vpp9", names.iter()), None);
        assert_eq!(suggest("completely-else", names.iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
