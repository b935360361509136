//! JSON encoding of floats that may be infinite or NaN.
//!
//! The golden files, the step records and `score` all write `inf`, `-inf` and `nan` as the
//! strings `"inf"`, `"-inf"` and `"nan"` (JSON has no literal for them); finite values are plain
//! numbers, parsed with correct rounding (`serde_json`'s `float_roundtrip`).

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;

/// Parses `"inf"`, `"-inf"`, `"nan"` (any case, also `"infinity"`) or a number.
pub fn parse_special(text: &str) -> Option<f64> {
    match text.trim().to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    }
}

/// A float as JSON: a number when finite, else one of the strings above.
pub fn to_value(x: f64) -> serde_json::Value {
    if x.is_nan() {
        "nan".into()
    } else if x == f64::INFINITY {
        "inf".into()
    } else if x == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        serde_json::Value::from(x)
    }
}

pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else if x.is_nan() {
        s.serialize_str("nan")
    } else if *x > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or one of the strings \"inf\", \"-inf\", \"nan\"")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        parse_special(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(FloatVisitor)
}

/// `#[serde(with = "float_json::vec")]` for `Vec<f64>`.
pub mod vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct F(#[serde(with = "super")] f64);

    pub fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(xs.iter().map(|&x| F(x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<F>::deserialize(d)?.into_iter().map(|F(x)| x).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug)]
    struct Row {
        #[serde(with = "super")]
        x: f64,
        #[serde(with = "super::vec")]
        xs: Vec<f64>,
    }

    #[test]
    fn round_trips_specials() {
        let row: Row = serde_json::from_str(r#"{"x":"inf","xs":[1.5,"nan","-inf",2]}"#).unwrap();
        assert_eq!(row.x, f64::INFINITY);
        assert!(row.xs[1].is_nan());
        assert_eq!(row.xs[2], f64::NEG_INFINITY);
        assert_eq!(row.xs[3], 2.0);
        let text = serde_json::to_string(&row).unwrap();
        assert_eq!(text, r#"{"x":"inf","xs":[1.5,"nan","-inf",2.0]}"#);
    }

    #[test]
    fn refuses_other_strings() {
        assert!(serde_json::from_str::<Row>(r#"{"x":"big","xs":[]}"#).is_err());
    }
}
