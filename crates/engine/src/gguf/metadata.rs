//! Typed reads of GGUF metadata keys, each failure naming the key and what was wrong.

use super::ImportError;
use candle_core::quantized::gguf_file::Value;
use std::collections::HashMap;
use std::path::Path;

pub(crate) struct Metadata<'a> {
    path: &'a Path,
    values: &'a HashMap<String, Value>,
}

impl<'a> Metadata<'a> {
    pub fn new(path: &'a Path, values: &'a HashMap<String, Value>) -> Self {
        Metadata { path, values }
    }

    pub fn invalid(&self, reason: String) -> ImportError {
        ImportError::Invalid { path: self.path.to_path_buf(), reason }
    }

    pub fn unsupported(&self, reason: String) -> ImportError {
        ImportError::Unsupported { path: self.path.to_path_buf(), reason }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.values.get(key)
    }

    fn required(&self, key: &str) -> Result<&'a Value, ImportError> {
        self.get(key).ok_or_else(|| self.invalid(format!("metadata key `{key}` is missing")))
    }

    fn typed<T>(&self, key: &str, v: &Value, r: candle_core::Result<T>) -> Result<T, ImportError> {
        r.map_err(|_| self.invalid(format!("metadata key `{key}` has type {:?}, not the expected one", v.value_type())))
    }

    pub fn string(&self, key: &str) -> Result<String, ImportError> {
        let v = self.required(key)?;
        self.typed(key, v, v.to_string().cloned())
    }

    pub fn opt_string(&self, key: &str) -> Result<Option<String>, ImportError> {
        self.get(key).map(|v| self.typed(key, v, v.to_string().cloned())).transpose()
    }

    /// Any unsigned or non-negative signed integer type.
    pub fn usize(&self, key: &str) -> Result<usize, ImportError> {
        let v = self.required(key)?;
        self.as_usize(key, v)
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>, ImportError> {
        self.get(key).map(|v| self.as_usize(key, v)).transpose()
    }

    fn as_usize(&self, key: &str, v: &Value) -> Result<usize, ImportError> {
        let n = match v {
            Value::U8(x) => *x as i128,
            Value::U16(x) => *x as i128,
            Value::U32(x) => *x as i128,
            Value::U64(x) => *x as i128,
            Value::I8(x) => *x as i128,
            Value::I16(x) => *x as i128,
            Value::I32(x) => *x as i128,
            Value::I64(x) => *x as i128,
            other => {
                return Err(
                    self.invalid(format!("metadata key `{key}` has type {:?}, not an integer", other.value_type()))
                )
            }
        };
        usize::try_from(n).map_err(|_| self.invalid(format!("metadata key `{key}` is {n}, not a count")))
    }

    /// A float key as the decimal number it was written from: a float32 is read back through
    /// its shortest round-trip decimal (1e-5, not 9.99999974e-6), as llama.cpp's converter wrote
    /// the Python float into a float32 field.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, ImportError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match v {
            Value::F32(x) => Ok(Some(x.to_string().parse().expect("a float's decimal parses"))),
            Value::F64(x) => Ok(Some(*x)),
            other => Err(self.invalid(format!("metadata key `{key}` has type {:?}, not a float", other.value_type()))),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, ImportError> {
        self.get(key).map(|v| self.typed(key, v, v.to_bool())).transpose()
    }

    pub fn string_array(&self, key: &str) -> Result<Vec<String>, ImportError> {
        let v = self.required(key)?;
        let list = self.typed(key, v, v.to_vec())?;
        list.iter().map(|x| self.typed(key, x, x.to_string().cloned())).collect()
    }

    pub fn opt_string_array(&self, key: &str) -> Result<Option<Vec<String>>, ImportError> {
        if self.get(key).is_none() {
            return Ok(None);
        }
        self.string_array(key).map(Some)
    }

    pub fn opt_int_array(&self, key: &str) -> Result<Option<Vec<i64>>, ImportError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let list = self.typed(key, v, v.to_vec())?;
        list.iter()
            .map(|x| match x {
                Value::I32(n) => Ok(*n as i64),
                Value::U32(n) => Ok(*n as i64),
                Value::I64(n) => Ok(*n),
                Value::U8(n) => Ok(*n as i64),
                Value::I8(n) => Ok(*n as i64),
                other => Err(self.invalid(format!("`{key}` holds a {:?}, not integers", other.value_type()))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}
