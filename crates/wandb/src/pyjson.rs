//! JSON as upstream's Python writes it, and lossless floats for our own files.
//!
//! Upstream logs `inf` losses; Python's `json.dumps` writes them as the bare token `Infinity`,
//! which wandb and the leaderboard readers (`json.loads`) accept. Standard JSON has no such
//! token and serde_json writes `null` instead, so:
//! - our serde form of a float is a number when finite and the string `"Infinity"`,
//!   `"-Infinity"` or `"NaN"` otherwise (the `float*` modules below, used with `#[serde(with)]`);
//!   the spool stores that, and reads it back exactly;
//! - [`to_string`] writes Python's text: every string *value* that is exactly one of those three
//!   words becomes the bare token, with Python's `", "` and `": "` separators. Our record types
//!   have no free-text field that could legitimately hold those words (Hugging Face ids always
//!   contain a `/`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};
use std::collections::BTreeMap;
use std::io::{self, Write};

const NON_FINITE: [&str; 3] = ["Infinity", "-Infinity", "NaN"];

/// `value` as Python's `json.dumps(value)` would write it (non-finite floats as bare tokens).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter::default());
    value.serialize(&mut serializer)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// Python's separators; string values are held back until complete so that the non-finite
/// words can be written bare.
#[derive(Default)]
struct PythonFormatter {
    in_key: bool,
    pending_string: Option<Vec<u8>>,
}

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.in_key = true;
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.in_key = false;
        Ok(())
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn begin_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        if self.in_key {
            writer.write_all(b"\"")
        } else {
            self.pending_string = Some(Vec::new());
            Ok(())
        }
    }

    fn end_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        match self.pending_string.take() {
            None => writer.write_all(b"\""),
            Some(content) if NON_FINITE.iter().any(|word| word.as_bytes() == content.as_slice()) => {
                writer.write_all(&content)
            }
            Some(content) => {
                writer.write_all(b"\"")?;
                writer.write_all(&content)?;
                writer.write_all(b"\"")
            }
        }
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        match &mut self.pending_string {
            Some(buffer) => buffer.write_all(fragment.as_bytes()),
            None => writer.write_all(fragment.as_bytes()),
        }
    }

    fn write_char_escape<W: ?Sized + Write>(&mut self, writer: &mut W, char_escape: CharEscape) -> io::Result<()> {
        match &mut self.pending_string {
            Some(buffer) => CompactFormatter.write_char_escape(buffer, char_escape),
            None => CompactFormatter.write_char_escape(writer, char_escape),
        }
    }
}

/// A float in our serde form (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Float(f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        if value.is_finite() {
            serializer.serialize_f64(value)
        } else if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value > 0.0 {
            serializer.serialize_str("Infinity")
        } else {
            serializer.serialize_str("-Infinity")
        }
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Word(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Number(value) => Ok(Float(value)),
            Repr::Word(word) => match word.as_str() {
                "Infinity" | "inf" => Ok(Float(f64::INFINITY)),
                "-Infinity" | "-inf" => Ok(Float(f64::NEG_INFINITY)),
                "NaN" | "nan" => Ok(Float(f64::NAN)),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"Infinity\", \"-Infinity\" or \"NaN\", found \"{other}\""
                ))),
            },
        }
    }
}

/// `#[serde(with = "float")]` for an `f64`.
pub mod float {
    use super::*;

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        Float(*value).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Float::deserialize(deserializer).map(|f| f.0)
    }
}

/// `#[serde(with = "float_option")]` for an `Option<f64>`.
pub mod float_option {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        value.map(Float).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
        Option::<Float>::deserialize(deserializer).map(|f| f.map(|f| f.0))
    }
}

/// `#[serde(with = "float_map")]` for a `BTreeMap<K, f64>`.
pub mod float_map {
    use super::*;

    pub fn serialize<K: Serialize, S: Serializer>(map: &BTreeMap<K, f64>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(map.iter().map(|(k, v)| (k, Float(*v))))
    }

    pub fn deserialize<'de, K, D>(deserializer: D) -> Result<BTreeMap<K, f64>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        D: Deserializer<'de>,
    {
        let map = BTreeMap::<K, Float>::deserialize(deserializer)?;
        Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

/// `#[serde(with = "float_map_option")]` for an `Option<BTreeMap<K, f64>>`.
pub mod float_map_option {
    use super::*;

    pub fn serialize<K: Serialize, S: Serializer>(
        map: &Option<BTreeMap<K, f64>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match map {
            Some(map) => super::float_map::serialize(map, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, K, D>(deserializer: D) -> Result<Option<BTreeMap<K, f64>>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        D: Deserializer<'de>,
    {
        let map = Option::<BTreeMap<K, Float>>::deserialize(deserializer)?;
        Ok(map.map(|map| map.into_iter().map(|(k, v)| (k, v.0)).collect()))
    }
}

/// `#[serde(with = "float_map_map")]` for a `BTreeMap<String, BTreeMap<K, f64>>` (per-task
/// score columns, flattened into the row).
pub mod float_map_map {
    use super::*;

    pub fn serialize<K: Serialize, S: Serializer>(
        map: &BTreeMap<String, BTreeMap<K, f64>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(map.iter().map(|(name, inner)| (name, Floats(inner))))
    }

    /// Inner keys are read as strings and parsed: a flattened field reaches us through serde's
    /// buffered content, which does not turn `"12"` into an integer by itself.
    pub fn deserialize<'de, K, D>(deserializer: D) -> Result<BTreeMap<String, BTreeMap<K, f64>>, D::Error>
    where
        K: std::str::FromStr + Ord,
        K::Err: std::fmt::Display,
        D: Deserializer<'de>,
    {
        let map = BTreeMap::<String, BTreeMap<String, Float>>::deserialize(deserializer)?;
        let mut parsed = BTreeMap::new();
        for (name, inner) in map {
            let mut values = BTreeMap::new();
            for (key, value) in inner {
                let key = key
                    .parse::<K>()
                    .map_err(|e| serde::de::Error::custom(format!("`{name}` has the key \"{key}\": {e}")))?;
                values.insert(key, value.0);
            }
            parsed.insert(name, values);
        }
        Ok(parsed)
    }

    struct Floats<'a, K>(&'a BTreeMap<K, f64>);

    impl<K: Serialize> Serialize for Floats<'_, K> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::float_map::serialize(self.0, serializer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Sample {
        #[serde(with = "float")]
        loss: f64,
        #[serde(with = "float_map")]
        per_uid: BTreeMap<u16, f64>,
        #[serde(with = "float_option")]
        maybe: Option<f64>,
        name: String,
    }

    fn sample() -> Sample {
        Sample {
            loss: f64::INFINITY,
            per_uid: BTreeMap::from([(3, 0.25), (12, f64::NEG_INFINITY), (40, f64::NAN)]),
            maybe: Some(1e-5),
            name: "ns/Infinity \"quoted\"\n".to_string(),
        }
    }

    #[test]
    fn python_text_has_bare_non_finite_tokens_and_python_separators() {
        let text = to_string(&sample()).unwrap();
        assert_eq!(
            text,
            r#"{"loss": Infinity, "per_uid": {"3": 0.25, "12": -Infinity, "40": NaN}, "maybe": 0.00001, "name": "ns/Infinity \"quoted\"\n"}"#
        );
    }

    #[test]
    fn our_serde_form_is_standard_json_and_round_trips() {
        let text = serde_json::to_string(&sample()).unwrap();
        assert!(text.contains(r#""loss":"Infinity""#), "{text}");
        let back: Sample = serde_json::from_str(&text).unwrap();
        assert_eq!(back.loss, f64::INFINITY);
        assert_eq!(back.per_uid[&12], f64::NEG_INFINITY);
        assert!(back.per_uid[&40].is_nan());
        assert_eq!(back.maybe, Some(1e-5));
        assert_eq!(back.name, sample().name);
    }

    #[test]
    fn a_word_that_is_no_float_is_refused_by_name() {
        let error = serde_json::from_str::<Sample>(r#"{"loss": "lots", "per_uid": {}, "maybe": null, "name": ""}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"lots\""), "{error}");
    }

    #[test]
    fn string_keys_equal_to_the_words_stay_quoted() {
        let map = BTreeMap::from([("NaN".to_string(), "x".to_string())]);
        assert_eq!(to_string(&map).unwrap(), r#"{"NaN": "x"}"#);
    }
}
