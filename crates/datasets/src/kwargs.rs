//! Reading a task's `dataset_kwargs` (upstream passes them as Python keyword arguments, so an
//! unknown name is an error there too; a typo must not silently fall back to a default).

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KwargsError {
    #[error("unknown dataset kwarg {name:?} (known: {known})")]
    Unknown { name: String, known: String },
    #[error("dataset kwarg {name:?} must be {expected}, got {got}")]
    WrongType { name: String, expected: &'static str, got: String },
    #[error("dataset kwarg {name:?} is required")]
    Missing { name: String },
    #[error("dataset kwargs are inconsistent: {0}")]
    Invalid(String),
}

/// Typed access to a kwargs map that remembers which names were read.
pub struct Kwargs<'a> {
    map: &'a Map<String, Value>,
    known: Vec<&'static str>,
}

impl<'a> Kwargs<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Kwargs<'a> {
        Kwargs { map, known: Vec::new() }
    }

    fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.known.push(name);
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn int(&mut self, name: &'static str, default: i64) -> Result<i64, KwargsError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.as_i64().ok_or_else(|| wrong(name, "an integer", v)),
        }
    }

    pub fn opt_int(&mut self, name: &'static str) -> Result<Option<i64>, KwargsError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| wrong(name, "an integer", v)),
        }
    }

    /// A count: a non-negative integer.
    pub fn count(&mut self, name: &'static str, default: usize) -> Result<usize, KwargsError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| wrong(name, "a non-negative integer", v)),
        }
    }

    pub fn opt_count(&mut self, name: &'static str) -> Result<Option<usize>, KwargsError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| wrong(name, "a non-negative integer", v)),
        }
    }

    pub fn opt_float(&mut self, name: &'static str) -> Result<Option<f64>, KwargsError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| wrong(name, "a number", v)),
        }
    }

    pub fn opt_string(&mut self, name: &'static str) -> Result<Option<String>, KwargsError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_str().map(|s| Some(s.to_string())).ok_or_else(|| wrong(name, "a string", v)),
        }
    }

    pub fn string(&mut self, name: &'static str, default: &str) -> Result<String, KwargsError> {
        Ok(self.opt_string(name)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn required_string(&mut self, name: &'static str) -> Result<String, KwargsError> {
        self.opt_string(name)?.ok_or(KwargsError::Missing { name: name.to_string() })
    }

    /// Fails on any kwarg that no accessor asked for.
    pub fn finish(self) -> Result<(), KwargsError> {
        for name in self.map.keys() {
            if !self.known.contains(&name.as_str()) {
                return Err(KwargsError::Unknown { name: name.clone(), known: self.known.join(", ") });
            }
        }
        Ok(())
    }
}

fn wrong(name: &str, expected: &'static str, got: &Value) -> KwargsError {
    KwargsError::WrongType { name: name.to_string(), expected, got: got.to_string() }
}
