//! Rotary position embeddings as `transformers` computes them: the frequency table (plain,
//! linear, Llama-3, dynamic-NTK and LongRoPE scaling), partial rotary (only the first
//! `rotary_dim` dims of each head rotate), and applying it in rotate-half (NeoX) pairing.
//!
//! Frequencies are computed in f32 with the same operations `transformers` uses, so the angles
//! agree to the last bit or two; cos/sin are then rounded once to f32.

use candle_core::{DType, Device, Tensor};
use serde_json::Value;

/// How a config asks for positions to be scaled (`rope_scaling` / `rope_parameters`).
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    Linear { factor: f64 },
    Dynamic { factor: f64, original_max: usize },
    Llama3 { factor: f64, low_freq_factor: f64, high_freq_factor: f64, original_max: f64 },
    LongRope { short_factor: Vec<f64>, long_factor: Vec<f64>, original_max: usize, attention_factor: f64 },
}

/// Everything a model config says about its rotary embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeSpec {
    pub theta: f64,
    pub scaling: RopeScaling,
    /// Fraction of each head that rotates (`partial_rotary_factor`, `rotary_pct`); 1.0 = all.
    pub partial_factor: f64,
}

impl RopeSpec {
    /// Reads the rotary settings of a config, accepting both the transformers-4 keys
    /// (`rope_theta`, `rope_scaling`) and the transformers-5 `rope_parameters` (flat, or one
    /// entry per attention type, of which the global `full_attention` one is used).
    ///
    /// `theta_keys` lists where the base frequency may be (architectures name it differently),
    /// `partial_keys` where the rotating fraction may be (else `default_partial`).
    pub fn from_config(
        config: &Value,
        theta_keys: &[&str],
        partial_keys: &[&str],
        default_partial: f64,
        max_position_embeddings: usize,
    ) -> Result<RopeSpec, String> {
        let params = match config.get("rope_parameters") {
            Some(Value::Object(map)) if map.contains_key("full_attention") => map.get("full_attention"),
            Some(v @ Value::Object(_)) => Some(v),
            _ => None,
        };
        let lookup = |key: &str| {
            params
                .and_then(|p| p.get(key))
                .filter(|v| !v.is_null())
                .or_else(|| config.get(key).filter(|v| !v.is_null()))
        };
        let theta = theta_keys
            .iter()
            .find_map(|k| lookup(k))
            .map(|v| v.as_f64().ok_or_else(|| format!("{} is not a number", theta_keys[0])))
            .transpose()?
            .unwrap_or(10000.0);
        let partial_factor = partial_keys
            .iter()
            .find_map(|k| lookup(k))
            .map(|v| v.as_f64().ok_or_else(|| format!("{} is not a number", partial_keys[0])))
            .transpose()?
            .unwrap_or(default_partial);
        if !(theta > 0.0 && theta.is_finite()) {
            return Err(format!("rope theta {theta} is not a positive number"));
        }
        if !(partial_factor > 0.0 && partial_factor <= 1.0) {
            return Err(format!("partial rotary factor {partial_factor} is not in (0, 1]"));
        }
        let scaling_obj = match params {
            Some(p) => Some(p),
            None => config.get("rope_scaling").filter(|v| !v.is_null()),
        };
        let scaling = match scaling_obj {
            None => RopeScaling::None,
            Some(obj) => parse_scaling(obj, config, max_position_embeddings)?,
        };
        Ok(RopeSpec { theta, scaling, partial_factor })
    }
}

fn parse_scaling(obj: &Value, config: &Value, max_position_embeddings: usize) -> Result<RopeScaling, String> {
    let kind = obj.get("rope_type").or_else(|| obj.get("type")).and_then(Value::as_str).unwrap_or("default");
    let num = |key: &str| obj.get(key).and_then(Value::as_f64);
    let need = |key: &str| num(key).ok_or_else(|| format!("rope scaling `{kind}` needs a numeric `{key}`"));
    let original_max = || {
        num("original_max_position_embeddings")
            .or_else(|| config.get("original_max_position_embeddings").and_then(Value::as_f64))
    };
    Ok(match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor: need("factor")? },
        "dynamic" => RopeScaling::Dynamic {
            factor: need("factor")?,
            original_max: original_max().map(|v| v as usize).unwrap_or(max_position_embeddings),
        },
        "llama3" => RopeScaling::Llama3 {
            factor: need("factor")?,
            low_freq_factor: need("low_freq_factor")?,
            high_freq_factor: need("high_freq_factor")?,
            original_max: original_max().ok_or("rope scaling `llama3` needs original_max_position_embeddings")?,
        },
        "longrope" | "su" => {
            let list = |key: &str| -> Result<Vec<f64>, String> {
                obj.get(key)
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| format!("rope scaling `longrope` needs a numeric list `{key}`"))
            };
            // transformers: with a top-level original_max_position_embeddings the factor is
            // max_position_embeddings / original (Phi-3 keeps the pretrained value there).
            let top_original = config.get("original_max_position_embeddings").and_then(Value::as_f64);
            let (original, factor) = match top_original {
                Some(orig) => (orig, max_position_embeddings as f64 / orig),
                None => (max_position_embeddings as f64, num("factor").unwrap_or(1.0)),
            };
            let attention_factor = match num("attention_factor") {
                Some(a) => a,
                None if factor <= 1.0 => 1.0,
                None => (1.0 + factor.ln() / original.ln()).sqrt(),
            };
            RopeScaling::LongRope {
                short_factor: list("short_factor")?,
                long_factor: list("long_factor")?,
                original_max: original as usize,
                attention_factor,
            }
        }
        other => return Err(format!("rope scaling type `{other}` is not supported")),
    })
}

/// A model's rotary embedding: inverse frequencies for the rotating dims of one head.
#[derive(Debug, Clone)]
pub struct Rotary {
    rotary_dim: usize,
    theta: f64,
    inv_freq: Vec<f32>,
    scaling: RopeScaling,
}

/// cos/sin for the positions of one forward pass, `(positions, rotary_dim / 2)`.
#[derive(Debug, Clone)]
pub struct RopeTables {
    pub cos: Tensor,
    pub sin: Tensor,
    pub rotary_dim: usize,
}

impl Rotary {
    pub fn new(spec: &RopeSpec, head_dim: usize) -> Result<Rotary, String> {
        // int(head_dim * factor): transformers floors (phi-2: 32 * 0.4 = 12.8 -> 12).
        let rotary_dim = (head_dim as f64 * spec.partial_factor) as usize;
        if rotary_dim == 0 || !rotary_dim.is_multiple_of(2) {
            return Err(format!("rotary dimension {rotary_dim} (head_dim {head_dim}) must be even and positive"));
        }
        if let RopeScaling::LongRope { short_factor, long_factor, .. } = &spec.scaling {
            if short_factor.len() != rotary_dim / 2 || long_factor.len() != rotary_dim / 2 {
                return Err(format!("longrope factors must have {} entries", rotary_dim / 2));
            }
        }
        let mut inv_freq = base_inv_freq(spec.theta, rotary_dim);
        match &spec.scaling {
            RopeScaling::Linear { factor } => inv_freq.iter_mut().for_each(|f| *f /= *factor as f32),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max } => {
                llama3_scale(&mut inv_freq, *factor, *low_freq_factor, *high_freq_factor, *original_max)
            }
            _ => {}
        }
        Ok(Rotary { rotary_dim, theta: spec.theta, inv_freq, scaling: spec.scaling.clone() })
    }

    pub fn rotary_dim(&self) -> usize {
        self.rotary_dim
    }

    /// cos/sin for positions `offset .. offset + len`. `seq_len` is the length `transformers`
    /// would see (the longest sequence in the pass), which dynamic and LongRoPE scaling use to
    /// pick their frequencies.
    pub fn tables(
        &self,
        offset: usize,
        len: usize,
        seq_len: usize,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<RopeTables> {
        let (inv_freq, attention_scaling) = self.frequencies(seq_len);
        let half = self.rotary_dim / 2;
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for p in offset..offset + len {
            let p = p as f32;
            for &f in inv_freq.iter() {
                let angle = (p * f) as f64;
                cos.push(angle.cos() as f32 * attention_scaling);
                sin.push(angle.sin() as f32 * attention_scaling);
            }
        }
        let cos = Tensor::from_vec(cos, (len, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (len, half), device)?.to_dtype(dtype)?;
        Ok(RopeTables { cos, sin, rotary_dim: self.rotary_dim })
    }

    fn frequencies(&self, seq_len: usize) -> (std::borrow::Cow<'_, [f32]>, f32) {
        use std::borrow::Cow;
        match &self.scaling {
            RopeScaling::Dynamic { factor, original_max } if seq_len > *original_max => {
                let dim = self.rotary_dim as f64;
                let base = self.theta
                    * ((factor * seq_len as f64 / *original_max as f64) - (factor - 1.0)).powf(dim / (dim - 2.0));
                (Cow::Owned(base_inv_freq(base, self.rotary_dim)), 1.0)
            }
            RopeScaling::LongRope { short_factor, long_factor, original_max, attention_factor } => {
                let ext = if seq_len > *original_max { long_factor } else { short_factor };
                let exponents = exponents(self.rotary_dim);
                let freqs = exponents
                    .iter()
                    .zip(ext)
                    .map(|(e, x)| 1.0f32 / (*x as f32 * (self.theta as f32).powf(*e)))
                    .collect();
                (Cow::Owned(freqs), *attention_factor as f32)
            }
            _ => (Cow::Borrowed(&self.inv_freq), 1.0),
        }
    }
}

/// `arange(0, dim, 2).float() / dim` in f32.
fn exponents(dim: usize) -> Vec<f32> {
    (0..dim).step_by(2).map(|i| i as f32 / dim as f32).collect()
}

/// `1.0 / (base ** exponents)` in f32, as `transformers` computes it.
fn base_inv_freq(base: f64, dim: usize) -> Vec<f32> {
    let base = base as f32;
    exponents(dim).into_iter().map(|e| 1.0f32 / base.powf(e)).collect()
}

fn llama3_scale(inv_freq: &mut [f32], factor: f64, low: f64, high: f64, original_max: f64) {
    let (factor, low, high, old_len) = (factor as f32, low as f32, high as f32, original_max as f32);
    let low_freq_wavelen = old_len / low;
    let high_freq_wavelen = old_len / high;
    for f in inv_freq.iter_mut() {
        let wavelen = 2.0 * std::f32::consts::PI / *f;
        let scaled = if wavelen > low_freq_wavelen { *f / factor } else { *f };
        let is_medium = wavelen >= high_freq_wavelen && wavelen <= low_freq_wavelen;
        *f = if is_medium {
            let smooth = (old_len / wavelen - low) / (high - low);
            (1.0 - smooth) * scaled / factor + smooth * scaled
        } else {
            scaled
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_classic_and_v5_keys_alike() {
        let classic = json!({"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}});
        let v5 = json!({"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}});
        let a = RopeSpec::from_config(&classic, &["rope_theta"], &[], 1.0, 8192).unwrap();
        let b = RopeSpec::from_config(&v5, &["rope_theta"], &[], 1.0, 8192).unwrap();
        assert_eq!(a, b);
        assert!(matches!(a.scaling, RopeScaling::Llama3 { .. }));
        let plain = RopeSpec::from_config(&json!({"rope_scaling": null}), &["rope_theta"], &[], 1.0, 2048).unwrap();
        assert_eq!(plain.theta, 10000.0);
        assert_eq!(plain.scaling, RopeScaling::None);
    }

    #[test]
    fn partial_rotary_floors() {
        let spec = RopeSpec { theta: 10000.0, scaling: RopeScaling::None, partial_factor: 0.4 };
        assert_eq!(Rotary::new(&spec, 32).unwrap().rotary_dim(), 12);
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let mut f = base_inv_freq(500000.0, 16);
        let orig = f.clone();
        llama3_scale(&mut f, 8.0, 1.0, 4.0, 64.0);
        assert_eq!(f[0], orig[0]); // short wavelength: unchanged
        assert_eq!(f[7], orig[7] / 8.0); // long wavelength: divided by the factor
        assert!(f.iter().zip(&orig).any(|(a, b)| a != b && *a != b / 8.0)); // a smoothed band exists
    }

    #[test]
    fn unknown_scaling_is_an_error() {
        let cfg = json!({"rope_scaling": {"type": "yarn", "factor": 4.0}});
        assert!(RopeSpec::from_config(&cfg, &["rope_theta"], &[], 1.0, 2048).is_err());
    }
}
