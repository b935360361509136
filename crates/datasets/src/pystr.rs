//! Python `str` semantics the loaders depend on.

/// Python's `str.isspace()` for one character: Rust's Unicode `White_Space` plus the four
/// information separators U+001C..U+001F, which Python also strips.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no argument.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `len(str)`: code points, not bytes.
pub fn py_len(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_matches_python() {
        // " \x1c\u2003x y\n\x85\u3000".strip() == "x y" in CPython 3.11; U+200B is not whitespace.
        assert_eq!(py_strip(" \x1c\u{2003}x y\n\u{85}\u{3000}"), "x y");
        assert_eq!(py_strip("\u{200b}x\u{200b}"), "\u{200b}x\u{200b}");
        assert_eq!(py_len("é😀"), 2);
    }
}
