//! "Did you mean ...?": the nearest known name to a misspelt one.

/// The one name within edit distance 2 of `word` (Levenshtein, `strsim`)
/// that is closer than all others.
pub fn suggest<'a, S>(word: &str, names: impl IntoIterator<Item = &'a S>) -> Option<&'a str>
where
    S: AsRef<str> + ?Sized + 'a,
{
    let mut scored: Vec<(usize, &str)> = names
        .into_iter()
        .map(|n| (strsim::levenshtein(word, n.as_ref()), n.as_ref()))
        .filter(|&(d, _)| d <= 2)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(d, n), rest @ ..] if rest.first().is_none_or(|(d2, _)| d2 > d) => Some(n),
        _ => None,
    }
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
        assert_eq!(suggest("sidd", ["kind", "sid", "sid_flavors"]), Some("sid"));
    }
}
