//! The projection every architecture multiplies by (`Linear`), and loading it from checkpoint
//! tensors: plain linears, several checkpoint tensors fused into one matmul, and fused checkpoint
//! tensors whose rows must be regrouped first.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// A projection `y = x·Wᵀ + b`, with `W` given `(out, in)` as checkpoints store it.
///
/// On the CPU `Wᵀ` is kept as its own contiguous `(in, out)` copy: gemm's AVX-512 kernels run
/// faster on a `(k, n)` right-hand side than on the transposed view candle_nn's `Linear`
/// multiplies by (BENCHMARKS.md, "Pre-transposed weights on the CPU"). On other devices `Wᵀ`
/// stays a view of the checkpoint layout, exactly what candle_nn's `Linear` hands cuBLAS.
#[derive(Debug, Clone)]
pub struct Linear {
    weight_t: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// `weight`: `(out, in)`; `bias`: `(out)`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        let view = weight.t()?;
        let weight_t = if weight.device().is_cpu() { view.contiguous()? } else { view };
        Ok(Linear { weight_t, bias })
    }

    /// `W` `(out, in)`, as a view.
    pub fn weight(&self) -> Result<Tensor> {
        self.weight_t.t()
    }

    pub fn out_dim(&self) -> Result<usize> {
        self.weight_t.dim(1)
    }

    /// `x`: `(..., in)` -> `(..., out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        let y = match dims.len() {
            // One 2-D matmul over all leading dims: the broadcast batched matmul is much slower.
            3 | 4 => {
                let rows = dims[..dims.len() - 1].iter().product::<usize>();
                let mut out_dims = dims.to_vec();
                *out_dims.last_mut().expect("non-empty dims") = self.out_dim()?;
                x.contiguous()?.reshape((rows, dims[dims.len() - 1]))?.matmul(&self.weight_t)?.reshape(out_dims)?
            }
            _ => x.matmul(&self.weight_t)?,
        };
        match &self.bias {
            None => Ok(y),
            Some(b) => y.broadcast_add(b),
        }
    }
}

/// A projection as the checkpoint stores it: `W` `(out, in)` and the bias `(out)`. Projections
/// are fused and regrouped in this layout, so each [`Linear`] forms its `Wᵀ` once.
#[derive(Debug, Clone)]
pub struct Rows {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Rows {
    /// `{prefix}.weight` `(out, in)` and, when `bias`, `{prefix}.bias` `(out)`.
    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Rows> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = if bias { Some(vb.get(out_dim, "bias")?) } else { None };
        Ok(Rows { weight, bias })
    }

    pub fn into_linear(self) -> Result<Linear> {
        Linear::new(self.weight, self.bias)
    }
}

/// `{prefix}.weight` `(out, in)` and, when `bias`, `{prefix}.bias` `(out)`, as a projection.
pub fn linear(vb: VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
    Rows::load(vb, in_dim, out_dim, bias)?.into_linear()
}

/// Stacks the rows of several projections reading the same input into one linear.
pub fn fused(parts: &[Rows]) -> Result<Linear> {
    let weights: Vec<&Tensor> = parts.iter().map(|p| &p.weight).collect();
    let weight = Tensor::cat(&weights, 0)?;
    let biases: Vec<&Tensor> = parts.iter().filter_map(|p| p.bias.as_ref()).collect();
    let bias = match biases.len() {
        0 => None,
        n if n == parts.len() => Some(Tensor::cat(&biases, 0)?),
        _ => {
            // Mixed: give the bias-less parts zero biases.
            let filled = parts
                .iter()
                .map(|p| match &p.bias {
                    Some(b) => Ok(b.clone()),
                    None => Tensor::zeros(p.weight.dim(0)?, p.weight.dtype(), p.weight.device()),
                })
                .collect::<Result<Vec<_>>>()?;
            Some(Tensor::cat(&filled, 0)?)
        }
    };
    Linear::new(weight, bias)
}

/// Reorders the output rows of a fused projection: the result holds the row blocks
/// `(start, len)` in the order given.
pub fn regroup_rows(rows: &Rows, blocks: &[(usize, usize)]) -> Result<Linear> {
    let pick = |t: &Tensor| -> Result<Tensor> {
        let parts = blocks.iter().map(|&(s, n)| t.narrow(0, s, n)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, 0)
    };
    let bias = rows.bias.as_ref().map(pick).transpose()?;
    Linear::new(pick(&rows.weight)?, bias)
}

/// Row blocks that turn a per-head interleaved `[q_i | k_i | v_i]` layout (GPT-NeoX, Falcon
/// without multi-query) into `[all q | all k | all v]`.
pub fn per_head_qkv_blocks(heads: usize, head_dim: usize) -> Vec<(usize, usize)> {
    (0..3).flat_map(|part| (0..heads).map(move |h| ((3 * h + part) * head_dim, head_dim))).collect()
}

/// Row blocks that turn Falcon's grouped layout (per KV group: its query heads, one key, one
/// value) into `[all q | all k | all v]`.
pub fn grouped_qkv_blocks(heads: usize, kv_heads: usize, head_dim: usize) -> Vec<(usize, usize)> {
    let per_group = heads / kv_heads;
    let group_rows = (per_group + 2) * head_dim;
    let mut blocks: Vec<(usize, usize)> = (0..kv_heads).map(|g| (g * group_rows, per_group * head_dim)).collect();
    blocks.extend((0..kv_heads).map(|g| (g * group_rows + per_group * head_dim, head_dim)));
    blocks.extend((0..kv_heads).map(|g| (g * group_rows + (per_group + 1) * head_dim, head_dim)));
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    use candle_core::Device;

    fn ramp(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) * scale).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn assert_close(a: &Tensor, b: &Tensor) {
        assert_eq!(a.dims(), b.dims());
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn projection_matches_x_times_w_transposed_plus_bias_for_any_leading_dims() {
        let w = ramp(&[5, 3], 0.25);
        let b = ramp(&[5], 0.5);
        let layer = Linear::new(w.clone(), Some(b.clone())).unwrap();
        assert!(layer.weight_t.is_contiguous(), "the CPU copy of Wᵀ is contiguous");
        assert_eq!(layer.weight().unwrap().to_vec2::<f32>().unwrap(), w.to_vec2::<f32>().unwrap());
        for shape in [vec![4, 3], vec![2, 4, 3], vec![2, 2, 4, 3]] {
            let x = ramp(&shape, 0.125);
            let rows = x.reshape(((), 3)).unwrap();
            let want = rows.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
            let mut out_shape = shape.clone();
            *out_shape.last_mut().unwrap() = 5;
            assert_close(&layer.forward(&x).unwrap(), &want.reshape(out_shape).unwrap());
        }
        // A non-contiguous input (a transposed view) gives the same rows.
        let xt = ramp(&[2, 3, 4], 0.125).transpose(1, 2).unwrap();
        let want = xt.contiguous().unwrap().reshape((8, 3)).unwrap().matmul(&w.t().unwrap()).unwrap();
        let want = want.broadcast_add(&b).unwrap().reshape((2, 4, 5)).unwrap();
        assert_close(&layer.forward(&xt).unwrap(), &want);
    }

    #[test]
    fn fused_and_regrouped_projections_keep_each_part_s_rows() {
        let a = Rows { weight: ramp(&[2, 3], 0.25), bias: None };
        let b = Rows { weight: ramp(&[4, 3], 0.5), bias: Some(ramp(&[4], 1.0)) };
        let (la, lb) = (a.clone().into_linear().unwrap(), b.clone().into_linear().unwrap());
        let both = fused(&[a, b]).unwrap();
        let x = ramp(&[1, 3, 3], 0.125);
        let y = both.forward(&x).unwrap();
        assert_close(&y.narrow(2, 0, 2).unwrap(), &la.forward(&x).unwrap());
        assert_close(&y.narrow(2, 2, 4).unwrap(), &lb.forward(&x).unwrap());
        // Swap the two parts back: rows 2..6 first, then rows 0..2.
        let stored = Rows { weight: both.weight().unwrap(), bias: both.bias.clone() };
        let swapped = regroup_rows(&stored, &[(2, 4), (0, 2)]).unwrap();
        let z = swapped.forward(&x).unwrap();
        assert_close(&z.narrow(2, 0, 4).unwrap(), &lb.forward(&x).unwrap());
        assert_close(&z.narrow(2, 4, 2).unwrap(), &la.forward(&x).unwrap());
    }

    #[test]
    fn per_head_blocks_gather_q_then_k_then_v() {
        assert_eq!(per_head_qkv_blocks(2, 4), vec![(0, 4), (12, 4), (4, 4), (16, 4), (8, 4), (20, 4)]);
    }

    #[test]
    fn grouped_blocks_gather_q_then_k_then_v() {
        // 2 groups of 3 query heads, head_dim 1: rows q q q k v | q q q k v
        assert_eq!(grouped_qkv_blocks(6, 2, 1), vec![(0, 3), (5, 3), (3, 1), (8, 1), (4, 1), (9, 1)]);
    }
}
