//! Did-you-mean: the closest known name to a misspelt one.

/// The candidate closest to `name`, if it is close enough to be a plausible
/// typo (Damerau-Levenshtein distance ≤ max(1, len/3)).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" or a fallback hint.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    fallback: impl FnOnce() -> String,
) -> String {
    match closest(name, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => fallback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_not_strangers() {
        let names = ["in_place", "blue_green"];
        assert_eq!(closest("inplace", names), Some("in_place"));
        assert_eq!(closest("blue-green", names), Some("blue_green"));
        assert_eq!(closest("rolling", names), None);
        assert_eq!(closest("verison", ["version", "status"]), Some("version"));
    }
}
