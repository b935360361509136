//! Python's `int(str)` for base 10, which upstream uses to read a commitment's competition id.
//!
//! `int()` accepts more than Rust's `i64::from_str`: surrounding whitespace (Python's own
//! definition, which includes U+001C..U+001F), a sign, single underscores between digits, and
//! any Unicode decimal digit (category Nd), e.g. `"٣１"` is 31. Validators must agree on which
//! commitments parse, so we follow it exactly. Values outside `i64` are refused: upstream would
//! parse them and then find no competition, so the miner is rejected either way.

/// First code point of every run of ten Unicode decimal digits (values 0..=9), from
/// `unicodedata.decimal` in CPython 3.11 (Unicode 14.0.0).
const DECIMAL_RUN_STARTS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0,
    0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
    0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0,
    0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The decimal value of `c` as Python's `unicodedata.decimal` gives it.
fn decimal_value(c: char) -> Option<u32> {
    let code = c as u32;
    let start = match DECIMAL_RUN_STARTS.binary_search(&code) {
        Ok(i) => DECIMAL_RUN_STARTS[i],
        Err(0) => return None,
        Err(i) => DECIMAL_RUN_STARTS[i - 1],
    };
    (code - start < 10).then_some(code - start)
}

/// Python's `str.isspace`.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyIntError {
    #[error("invalid literal for int() with base 10: {0:?}")]
    Invalid(String),
    #[error("integer {0:?} does not fit in 64 bits")]
    OutOfRange(String),
}

/// Parses `text` the way `int(text)` does in CPython 3.11.
pub fn parse_python_int(text: &str) -> Result<i64, PyIntError> {
    let invalid = || PyIntError::Invalid(text.to_string());
    let body = text.trim_matches(is_python_space);
    let (negative, digits) = match body.chars().next() {
        Some('+') => (false, &body[1..]),
        Some('-') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut value: i128 = 0;
    let mut seen_digit = false;
    let mut previous_underscore = false;
    for c in digits.chars() {
        if c == '_' {
            if !seen_digit || previous_underscore {
                return Err(invalid());
            }
            previous_underscore = true;
            continue;
        }
        let d = decimal_value(c).ok_or_else(invalid)?;
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as i128))
            .ok_or_else(|| PyIntError::OutOfRange(text.to_string()))?;
        seen_digit = true;
        previous_underscore = false;
    }
    if !seen_digit || previous_underscore {
        return Err(invalid());
    }
    let signed = if negative { -value } else { value };
    i64::try_from(signed).map_err(|_| PyIntError::OutOfRange(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_python_accepts() {
        for (text, want) in [
            ("1", 1),
            (" 1\n", 1),
            ("+02", 2),
            ("-1", -1),
            ("1_0", 10),
            ("٣１", 31),
            ("123", 123),
            ("\u{1c}7\u{3000}", 7),
            ("00", 0),
        ] {
            assert_eq!(parse_python_int(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn refuses_what_python_refuses() {
        for text in ["", " ", "abc", "1.0", "0x1", "None", "_1", "1_", "1__0", "+", "- 1", "1 2", "+-1", "²"] {
            assert!(matches!(parse_python_int(text), Err(PyIntError::Invalid(_))), "{text:?}");
        }
        assert!(matches!(parse_python_int("99999999999999999999999"), Err(PyIntError::OutOfRange(_))));
    }
}
