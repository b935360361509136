//! Normalisation layers: RMSNorm (Llama family), Gemma's `(1 + w)` RMSNorm, LayerNorm.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

#[derive(Debug, Clone)]
pub struct Norm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f32,
}

impl Norm {
    /// `x / rms(x) * w`, weight at `{prefix}.weight`.
    pub fn rms(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Norm> {
        Ok(Norm { weight: vb.get(size, "weight")?, bias: None, eps: eps as f32 })
    }

    /// Gemma's `x / rms(x) * (1 + w)`: the stored weight is an offset from one.
    pub fn rms_plus_one(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Norm> {
        // (1 + w) is formed in f32 as transformers does, then kept in the compute dtype.
        let dtype = vb.dtype();
        let weight = (vb.get(size, "weight")?.to_dtype(DType::F32)? + 1.0)?.to_dtype(dtype)?;
        Ok(Norm { weight, bias: None, eps: eps as f32 })
    }

    /// LayerNorm with weight and, when `bias`, a bias.
    pub fn layer(size: usize, eps: f64, bias: bool, vb: VarBuilder) -> candle_core::Result<Norm> {
        let weight = vb.get(size, "weight")?;
        let bias = if bias { vb.get(size, "bias")? } else { weight.zeros_like()? };
        Ok(Norm { weight, bias: Some(bias), eps: eps as f32 })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = x.contiguous()?;
        // A LayerNorm always holds a bias (zeros when the checkpoint has none); RMSNorms never do.
        match &self.bias {
            None => candle_nn::ops::rms_norm(&x, &self.weight, self.eps),
            Some(b) => candle_nn::ops::layer_norm(&x, &self.weight, b, self.eps),
        }
    }
}
