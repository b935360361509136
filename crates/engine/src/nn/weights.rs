//! Loading projections from checkpoint tensors: plain linears, several checkpoint tensors fused
//! into one matmul, and fused checkpoint tensors whose rows must be regrouped first.

use candle_core::{Result, Tensor};
use candle_nn::{Linear, VarBuilder};

/// `{prefix}.weight` `(out, in)` and, when `bias`, `{prefix}.bias` `(out)`.
pub fn linear(vb: VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
    let weight = vb.get((out_dim, in_dim), "weight")?;
    let bias = if bias { Some(vb.get(out_dim, "bias")?) } else { None };
    Ok(Linear::new(weight, bias))
}

/// Stacks the rows of several projections reading the same input into one linear.
pub fn fused(parts: &[Linear]) -> Result<Linear> {
    let weights: Vec<&Tensor> = parts.iter().map(|l| l.weight()).collect();
    let weight = Tensor::cat(&weights, 0)?;
    let biases: Vec<&Tensor> = parts.iter().filter_map(|l| l.bias()).collect();
    let bias = match biases.len() {
        0 => None,
        n if n == parts.len() => Some(Tensor::cat(&biases, 0)?),
        _ => {
            // Mixed: give the bias-less parts zero biases.
            let filled = parts
                .iter()
                .map(|l| match l.bias() {
                    Some(b) => Ok(b.clone()),
                    None => Tensor::zeros(l.weight().dim(0)?, l.weight().dtype(), l.weight().device()),
                })
                .collect::<Result<Vec<_>>>()?;
            Some(Tensor::cat(&filled, 0)?)
        }
    };
    Ok(Linear::new(weight, bias))
}

/// Reorders the output rows of a fused projection: the result holds the row blocks
/// `(start, len)` in the order given.
pub fn regroup_rows(l: &Linear, blocks: &[(usize, usize)]) -> Result<Linear> {
    let pick = |t: &Tensor| -> Result<Tensor> {
        let parts = blocks.iter().map(|&(s, n)| t.narrow(0, s, n)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, 0)
    };
    let bias = l.bias().map(pick).transpose()?;
    Ok(Linear::new(pick(l.weight())?, bias))
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
