//! Someone else's text (a DVR's, a provider's) made safe to keep, log or show.

/// Someone else's text on its way to the database, a log line or a browser: control
/// characters (newlines, terminal escapes) become spaces, and it is cut to `max` bytes.
pub fn outside_text(s: &str, max: usize) -> String {
    let cut = clip(s.trim(), max);
    cut.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

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

    #[test]
    fn outside_text_is_one_clipped_line() {
        assert_eq!(outside_text(" a\nb\u{1b}[31mc ", 100), "a b [31mc");
        assert_eq!(outside_text(&"x".repeat(1000), 10).len(), 10);
    }
}
