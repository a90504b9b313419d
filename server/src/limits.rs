//! Caps on what comes from outside (DVRs, providers, image hosts): texts are cut
//! before they are kept, logged or shown.

/// `s` cut to at most `max` bytes at a character boundary, ending in `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let ellipsis = if max >= '…'.len_utf8() { "…" } else { "" };
    let mut end = max - ellipsis.len();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_at_character_boundaries() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcdef", 5), "ab…");
        assert_eq!(clip("ééé", 4), "…", "never inside a character");
        assert_eq!(clip("ééé", 5), "é…");
        assert_eq!(clip("abc", 0), "");
        assert_eq!(clip("abcd", 2), "ab");
    }
}
