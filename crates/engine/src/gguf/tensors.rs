//! The GGUF tensors as Hugging Face Llama weights: renamed, dequantised to float32 with candle's
//! GGUF reader, shape-checked against the hyperparameters, and q/k rows put back in HF order.
//!
//! candle already reverses GGUF's fastest-first dims, so a GGUF `[in, out]` tensor arrives as the
//! HF Linear weight `[out, in]`: no transpose. llama.cpp's converter permutes the rows of q_proj
//! and k_proj within each head so that GGUF runtimes can rotate adjacent pairs (interleaved
//! RoPE); HF rotates the two halves of a head, so GGUF row `2i + j` goes back to HF row
//! `j·(d/2) + i` — transformers' `_reverse_permute_weights`.

use super::config::Hyper;
use super::ImportError;
use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};
use std::path::Path;

pub(crate) struct Weights {
    pub tensors: HashMap<String, Tensor>,
    pub types: BTreeMap<String, usize>,
    pub parameters: u64,
    /// No `output.weight`: the LM head is the token embedding.
    pub tied: bool,
}

/// What a GGUF tensor becomes.
struct Target {
    hf_name: String,
    shape: Vec<usize>,
    /// Un-permute the rows with this many heads.
    unpermute_heads: Option<usize>,
}

/// The HF name, expected shape and row order of each GGUF tensor name.
fn targets(h: &Hyper, has_output: bool) -> BTreeMap<String, Target> {
    let (q_rows, kv_rows) = (h.heads * h.head_dim, h.kv_heads * h.head_dim);
    let mut map = BTreeMap::new();
    let mut add = |gguf: String, hf: String, shape: Vec<usize>, unpermute_heads: Option<usize>| {
        map.insert(gguf, Target { hf_name: hf, shape, unpermute_heads });
    };
    add("token_embd.weight".into(), "model.embed_tokens.weight".into(), vec![h.vocab_size, h.hidden], None);
    add("output_norm.weight".into(), "model.norm.weight".into(), vec![h.hidden], None);
    if has_output {
        add("output.weight".into(), "lm_head.weight".into(), vec![h.vocab_size, h.hidden], None);
    }
    for n in 0..h.layers {
        let (g, p) = (format!("blk.{n}."), format!("model.layers.{n}."));
        let pairs: [(&str, &str, Vec<usize>, Option<usize>); 9] = [
            ("attn_norm", "input_layernorm", vec![h.hidden], None),
            ("attn_q", "self_attn.q_proj", vec![q_rows, h.hidden], Some(h.heads)),
            ("attn_k", "self_attn.k_proj", vec![kv_rows, h.hidden], Some(h.kv_heads)),
            ("attn_v", "self_attn.v_proj", vec![kv_rows, h.hidden], None),
            ("attn_output", "self_attn.o_proj", vec![h.hidden, q_rows], None),
            ("ffn_norm", "post_attention_layernorm", vec![h.hidden], None),
            ("ffn_gate", "mlp.gate_proj", vec![h.intermediate, h.hidden], None),
            ("ffn_up", "mlp.up_proj", vec![h.intermediate, h.hidden], None),
            ("ffn_down", "mlp.down_proj", vec![h.hidden, h.intermediate], None),
        ];
        for (gguf, hf, shape, heads) in pairs {
            add(format!("{g}{gguf}.weight"), format!("{p}{hf}.weight"), shape, heads);
        }
    }
    map
}

pub(crate) fn read<R: Read + Seek>(
    path: &Path,
    content: &Content,
    reader: &mut R,
    h: &Hyper,
) -> Result<Weights, ImportError> {
    let invalid = |reason: String| ImportError::Invalid { path: path.to_path_buf(), reason };
    let has_output = content.tensor_infos.contains_key("output.weight");
    let targets = targets(h, has_output);
    let mut unknown: Vec<&String> = content.tensor_infos.keys().filter(|k| !targets.contains_key(*k)).collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(ImportError::Unsupported {
            path: path.to_path_buf(),
            reason: format!("tensors with no Llama equivalent: {unknown:?}"),
        });
    }
    let mut weights = Weights { tensors: HashMap::new(), types: BTreeMap::new(), parameters: 0, tied: !has_output };
    for (gguf_name, target) in &targets {
        let info =
            content.tensor_infos.get(gguf_name).ok_or_else(|| invalid(format!("tensor `{gguf_name}` is missing")))?;
        if info.shape.dims() != target.shape.as_slice() {
            return Err(invalid(format!(
                "tensor `{gguf_name}` has shape {:?}, the hyperparameters say {:?}",
                info.shape.dims(),
                target.shape
            )));
        }
        let tensor = content
            .tensor(reader, gguf_name, &Device::Cpu)
            .and_then(|q| q.dequantize(&Device::Cpu))
            .map_err(|e| invalid(format!("cannot read tensor `{gguf_name}` ({:?}): {e}", info.ggml_dtype)))?;
        let tensor = match target.unpermute_heads {
            Some(heads) => unpermute_rows(&tensor, heads),
            None => Ok(tensor),
        }
        .map_err(|e| invalid(format!("cannot reorder `{gguf_name}`: {e}")))?;
        *weights.types.entry(format!("{:?}", info.ggml_dtype)).or_default() += 1;
        weights.parameters += tensor.elem_count() as u64;
        weights.tensors.insert(target.hf_name.clone(), tensor);
    }
    Ok(weights)
}

/// Within each of `heads` blocks of rows, GGUF row `2i + j` becomes row `j·(d/2) + i`.
pub(crate) fn unpermute_rows(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let half = rows / heads / 2;
    if half * 2 * heads != rows {
        candle_core::bail!("{rows} rows do not split into {heads} heads of an even size");
    }
    w.reshape((heads, half, 2, cols))?.transpose(1, 2)?.contiguous()?.reshape((rows, cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's converter (`LlamaModel.permute`), HF -> GGUF, written from its definition:
    /// `w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(rows, cols)`.
    fn llama_cpp_permute(w: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
        let half = rows / heads / 2;
        let mut out = vec![0.0; w.len()];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..half {
                    let hf_row = h * 2 * half + j * half + i;
                    let gguf_row = h * 2 * half + 2 * i + j;
                    out[gguf_row * cols..(gguf_row + 1) * cols].copy_from_slice(&w[hf_row * cols..(hf_row + 1) * cols]);
                }
            }
        }
        out
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        let (heads, d, cols) = (3, 8, 5);
        let rows = heads * d;
        let hf: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let gguf = llama_cpp_permute(&hf, rows, cols, heads);
        assert_ne!(gguf, hf);
        let t = Tensor::from_vec(gguf, (rows, cols), &Device::Cpu).unwrap();
        let back = unpermute_rows(&t, heads).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(back, hf);
    }

    #[test]
    fn gguf_row_2i_plus_j_is_hf_row_j_half_plus_i() {
        // One head of d = 4, one column: GGUF rows [a0, b0, a1, b1] -> HF [a0, a1, b0, b1].
        let t = Tensor::new(&[[10f32], [20.], [11.], [21.]], &Device::Cpu).unwrap();
        let got = unpermute_rows(&t, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got, vec![10., 11., 20., 21.]);
    }

    #[test]
    fn odd_head_rows_are_an_error() {
        let t = Tensor::zeros((6, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(unpermute_rows(&t, 2).is_err());
    }
}
