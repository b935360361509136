//! The decoder-only transformer every supported architecture is an instance of: embedding,
//! blocks (sequential or parallel residual), final norm, and an LM head applied only to the
//! rows the caller asks for.

use super::attention::{Attention, KvCache, Pass};
use super::mask::MaskSpec;
use super::mlp::Mlp;
use super::norm::Norm;
use super::rotary::Rotary;
use candle_core::{DType, Device, Tensor};

/// How a block wires its attention and MLP branches into the residual stream.
#[derive(Debug, Clone)]
pub enum BlockLayout {
    /// `x += attn(n1(x))`, then `x += mlp(n2(x))`; Gemma-2 also normalises each branch's output.
    Sequential { mlp_norm: Norm, post_attn_norm: Option<Norm>, post_mlp_norm: Option<Norm> },
    /// `x += attn(n1(x)) + mlp(n2(x))`; without `mlp_norm` the MLP reads `n1(x)` too.
    Parallel { mlp_norm: Option<Norm> },
}

#[derive(Debug, Clone)]
pub struct Block {
    pub attn_norm: Norm,
    pub attn: Attention,
    pub mlp: Mlp,
    pub layout: BlockLayout,
}

impl Block {
    fn forward(&self, x: &Tensor, pass: &mut Pass) -> candle_core::Result<Tensor> {
        let h = self.attn_norm.forward(x)?;
        let a = self.attn.forward(&h, pass)?;
        match &self.layout {
            BlockLayout::Sequential { mlp_norm, post_attn_norm, post_mlp_norm } => {
                let a = match post_attn_norm {
                    Some(n) => n.forward(&a)?,
                    None => a,
                };
                let x = (x + a)?;
                let m = self.mlp.forward(&mlp_norm.forward(&x)?)?;
                let m = match post_mlp_norm {
                    Some(n) => n.forward(&m)?,
                    None => m,
                };
                x + m
            }
            BlockLayout::Parallel { mlp_norm } => {
                let m = match mlp_norm {
                    Some(n) => self.mlp.forward(&n.forward(x)?)?,
                    None => self.mlp.forward(&h)?,
                };
                // transformers adds the branches first, then the residual.
                (m + a)? + x
            }
        }
    }
}

/// The output projection, with Gemma-2's final soft-cap.
#[derive(Debug, Clone)]
pub struct LmHead {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub softcap: Option<f64>,
}

impl LmHead {
    /// `(rows, hidden)` -> f32 logits `(rows, vocab)`.
    pub fn logits(&self, rows: &Tensor) -> candle_core::Result<Tensor> {
        let mut logits = rows.matmul(&self.weight.t()?)?;
        if let Some(b) = &self.bias {
            logits = logits.broadcast_add(b)?;
        }
        let mut logits = logits.to_dtype(DType::F32)?;
        if let Some(cap) = self.softcap {
            logits = ((logits / cap)?.tanh()? * cap)?;
        }
        Ok(logits)
    }
}

/// A loaded model: everything needed to go from token ids to logits.
#[derive(Debug, Clone)]
pub struct Decoder {
    pub embed: Tensor,
    /// Gemma multiplies embeddings by sqrt(hidden), rounded to the compute dtype.
    pub embed_scale: Option<f64>,
    pub blocks: Vec<Block>,
    pub final_norm: Norm,
    pub rotary: Rotary,
    pub head: LmHead,
    pub vocab_size: usize,
    pub hidden_size: usize,
}

impl Decoder {
    pub fn dtype(&self) -> DType {
        self.embed.dtype()
    }

    pub fn device(&self) -> &Device {
        self.embed.device()
    }

    /// Final-normed hidden states `(batch, positions, hidden)` for every position of the
    /// right-padded `ids` `(batch, positions)`; `lens[b]` real tokens in row `b`. With a cache,
    /// `ids` continue the cached positions (batch 1).
    pub fn hidden_states(
        &self,
        ids: &Tensor,
        lens: &[usize],
        cache: Option<&mut KvCache>,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let offset = cache.as_ref().map_or(0, |c| c.len());
        let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, self.hidden_size))?;
        if let Some(scale) = self.embed_scale {
            x = (x * scale)?;
        }
        let seq_len = offset + lens.iter().copied().max().unwrap_or(t);
        let rope = self.rotary.tables(offset, t, seq_len, self.dtype(), self.device())?;
        let mask = MaskSpec::new(lens.iter().map(|l| offset + l).collect(), offset);
        let mut pass = Pass { mask, rope, cache };
        for block in &self.blocks {
            x = block.forward(&x, &mut pass)?;
        }
        self.final_norm.forward(&x)
    }

    /// f32 logits `(rows, vocab)` for rows of final hidden states `(rows, hidden)`.
    pub fn logits(&self, rows: &Tensor) -> candle_core::Result<Tensor> {
        self.head.logits(rows)
    }
}

/// `sqrt(hidden)` as `transformers` forms it: a tensor of the compute dtype.
pub fn embed_scale_in(dtype: DType, hidden: usize) -> f64 {
    let s = (hidden as f64).sqrt();
    match dtype {
        DType::BF16 => half::bf16::from_f64(s).to_f64(),
        DType::F16 => half::f16::from_f64(s).to_f64(),
        DType::F32 => s as f32 as f64,
        _ => s,
    }
}
