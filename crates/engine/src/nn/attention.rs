//! Causal self-attention shared by every architecture: one fused QKV projection, optional
//! per-head q/k norms, rotary embedding, grouped-query attention without copying K/V, optional
//! logit soft-cap and sliding window, key-padding masks, and an optional KV cache.
//!
//! Long sequences are processed in blocks of queries, each against only the keys it can see,
//! so the score matrix never holds `positions x positions` entries for all heads at once.

use super::mask::MaskSpec;
use super::norm::Norm;
use super::rotary::RopeTables;
use super::weights::Linear;
use candle_core::{DType, Tensor, D};

/// Score-matrix elements one block of queries may hold (all heads, whole batch).
const SCORE_BUDGET: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AttentionConfig {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Multiplies the query (`1/sqrt(head_dim)` unless the architecture says otherwise).
    pub scale: f64,
    /// Gemma-2: scores become `cap * tanh(scores / cap)` before masking.
    pub softcap: Option<f64>,
    /// Sliding window: a query sees this many keys, itself included.
    pub window: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Attention {
    /// Output rows: all query heads, then the key heads, then the value heads.
    pub qkv: Linear,
    pub out: Linear,
    pub q_norm: Option<Norm>,
    pub k_norm: Option<Norm>,
    pub config: AttentionConfig,
    pub layer: usize,
}

/// Keys and values of the positions already processed, per layer, for generation.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn new() -> KvCache {
        KvCache::default()
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.layers.iter().flatten().next().map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn append(&mut self, layer: usize, k: Tensor, v: Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        if self.layers.len() <= layer {
            self.layers.resize(layer + 1, None);
        }
        let (k, v) = match self.layers[layer].take() {
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        Ok((k, v))
    }
}

/// What every layer of one forward pass shares.
pub struct Pass<'a> {
    pub mask: MaskSpec,
    pub rope: RopeTables,
    pub cache: Option<&'a mut KvCache>,
}

impl Attention {
    /// `x`: `(batch, positions, hidden)` -> `(batch, positions, hidden)`.
    pub fn forward(&self, x: &Tensor, pass: &mut Pass) -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let AttentionConfig { n_heads: h, n_kv_heads: kv, head_dim: d, .. } = self.config;
        let qkv = self.qkv.forward(x)?;
        let q = qkv.narrow(D::Minus1, 0, h * d)?.reshape((b, t, h, d))?;
        let k = qkv.narrow(D::Minus1, h * d, kv * d)?.reshape((b, t, kv, d))?;
        let v = qkv.narrow(D::Minus1, (h + kv) * d, kv * d)?.reshape((b, t, kv, d))?;
        let q = match &self.q_norm {
            Some(n) => n.forward(&q)?,
            None => q,
        };
        let k = match &self.k_norm {
            Some(n) => n.forward(&k)?,
            None => k,
        };
        let q = apply_rotary(&q.transpose(1, 2)?.contiguous()?, &pass.rope)?;
        let k = apply_rotary(&k.transpose(1, 2)?.contiguous()?, &pass.rope)?;
        let v = v.transpose(1, 2)?.contiguous()?;
        let (k, v) = match pass.cache.as_deref_mut() {
            Some(cache) => cache.append(self.layer, k, v)?,
            None => (k, v),
        };
        let y = attend(&q, &k, &v, &self.config, &pass.mask)?;
        self.out.forward(&y)
    }
}

/// Rotates the first `rotary_dim` dims of each head of `x` `(batch, heads, positions, dim)`.
fn apply_rotary(x: &Tensor, rope: &RopeTables) -> candle_core::Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    if rope.rotary_dim == d {
        return candle_nn::rotary_emb::rope(x, &rope.cos, &rope.sin);
    }
    let rot = x.narrow(D::Minus1, 0, rope.rotary_dim)?.contiguous()?;
    let rot = candle_nn::rotary_emb::rope(&rot, &rope.cos, &rope.sin)?;
    let pass = x.narrow(D::Minus1, rope.rotary_dim, d - rope.rotary_dim)?;
    Tensor::cat(&[&rot, &pass], D::Minus1)
}

/// Scaled dot-product attention. `q`: `(b, heads, tq, d)`; `k`, `v`: `(b, kv_heads, tk, d)`
/// with `tk = mask.offset + tq`. Returns `(b, tq, heads * d)`.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cfg: &AttentionConfig,
    mask: &MaskSpec,
) -> candle_core::Result<Tensor> {
    let (b, h, _, _) = q.dims4()?;
    let tk = k.dim(2)?;
    attend_in_blocks(q, k, v, cfg, mask, (SCORE_BUDGET / (b * h * tk).max(1)).max(16))
}

fn attend_in_blocks(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cfg: &AttentionConfig,
    mask: &MaskSpec,
    rows_per_block: usize,
) -> candle_core::Result<Tensor> {
    let (b, h, tq, d) = q.dims4()?;
    let (kv, tk) = (k.dim(1)?, k.dim(2)?);
    let group = h / kv;
    let q = (q * cfg.scale)?;
    let mut blocks = Vec::new();
    let mut q0 = 0;
    while q0 < tq {
        let q1 = tq.min(q0 + rows_per_block);
        let n = q1 - q0;
        // Keys the block can see: up to its last query (causal), from its first query's window.
        let k1 = tk.min(mask.offset + q1);
        let k0 = match cfg.window {
            Some(w) => (mask.offset + q0 + 1).saturating_sub(w).min(k1 - 1),
            None => 0,
        };
        let nk = k1 - k0;
        let qb = if n == tq { q.clone() } else { q.narrow(2, q0, n)?.contiguous()? };
        // Query heads of one KV group are adjacent: fold them into the rows of one matmul.
        let qb = qb.reshape((b, kv, group * n, d))?;
        let kb = k.narrow(2, k0, nk)?;
        let vb = v.narrow(2, k0, nk)?;
        let mut scores = qb.matmul(&kb.t()?)?;
        let compute_dtype = scores.dtype();
        if compute_dtype != DType::F32 {
            scores = scores.to_dtype(DType::F32)?;
        }
        if let Some(cap) = cfg.softcap {
            scores = ((scores / cap)?.tanh()? * cap)?;
        }
        if !mask.is_trivial(&(q0..q1), &(k0..k1), cfg.window) {
            let m = mask.get(&(q0..q1), &(k0..k1), cfg.window, n == tq, DType::F32, scores.device())?;
            scores = scores.reshape((b, kv, group, n, nk))?.broadcast_add(&m.unsqueeze(1)?)?.reshape((
                b,
                kv,
                group * n,
                nk,
            ))?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(compute_dtype)?;
        let out = probs.matmul(&vb)?;
        blocks.push(out.reshape((b, h, n, d))?);
        q0 = q1;
    }
    let out = if blocks.len() == 1 { blocks.pop().expect("one block") } else { Tensor::cat(&blocks, 2)? };
    out.transpose(1, 2)?.contiguous()?.reshape((b, tq, h * d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn random(shape: (usize, usize, usize, usize), seed: u64) -> Tensor {
        // A small deterministic generator keeps the test free of RNG dependencies.
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let data: Vec<f32> = (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    }

    /// Blocks of queries against only the keys they can see give what one block gives, with
    /// grouped heads, padding, sliding windows, soft-caps and a cache offset.
    #[test]
    fn blocked_attention_equals_one_block() {
        let (b, h, kv, t, d) = (2, 4, 2, 37, 8);
        let (q, k, v) = (random((b, h, t, d), 1), random((b, kv, t, d), 2), random((b, kv, t, d), 3));
        for window in [None, Some(5)] {
            for softcap in [None, Some(1.0)] {
                let cfg = AttentionConfig { n_heads: h, n_kv_heads: kv, head_dim: d, scale: 0.3, softcap, window };
                let mask = MaskSpec::new(vec![37, 30], 0);
                let whole = attend_in_blocks(&q, &k, &v, &cfg, &mask, t).unwrap();
                let blocked = attend_in_blocks(&q, &k, &v, &cfg, &mask, 4).unwrap();
                let diff = (whole - blocked).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(diff < 1e-6, "window {window:?} softcap {softcap:?}: {diff}");
            }
        }
        // Queries continuing a cache: the last 6 positions against all 37 keys.
        let cfg =
            AttentionConfig { n_heads: h, n_kv_heads: kv, head_dim: d, scale: 0.3, softcap: None, window: Some(9) };
        let full = attend_in_blocks(&q, &k, &v, &cfg, &MaskSpec::new(vec![37, 37], 0), t).unwrap();
        let tail_q = q.narrow(2, 31, 6).unwrap().contiguous().unwrap();
        let tail = attend_in_blocks(&tail_q, &k, &v, &cfg, &MaskSpec::new(vec![37, 37], 31), 2).unwrap();
        let diff = (full.narrow(1, 31, 6).unwrap() - tail)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-6, "cached tail: {diff}");
    }
}
