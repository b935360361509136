//! Which keys each query may see: causal, key padding (right-padded batches), sliding window.
//!
//! Query `i` (absolute position `p = offset + i`) of row `b` sees key `j` when `j <= p`,
//! `j < len[b]` and, with a window `W`, `p - W < j` (the definition `transformers` uses: `W`
//! keys including itself). Padding queries (`p >= len[b]`) see only themselves: no row is ever
//! empty (an empty row would give NaN, and NaN values leak through zero attention weights),
//! and real tokens never see padding. Padding outputs are never read.

use candle_core::{DType, Device, Tensor};
use std::cell::RefCell;
use std::ops::Range;

/// A mask already built in this pass: (window, queries, keys) and the tensor.
type CachedMask = (Option<usize>, Range<usize>, Range<usize>, Tensor);

/// The shape of the attention in one forward pass.
#[derive(Debug, Clone, Default)]
pub struct MaskSpec {
    /// Real tokens per batch row (cache included); the rest of the row is padding.
    pub lens: Vec<usize>,
    /// Absolute position of the first query (the KV-cache length before this pass).
    pub offset: usize,
    /// Masks built for earlier layers of the same pass (every layer with the same window
    /// needs the same one).
    built: RefCell<Vec<CachedMask>>,
}

impl MaskSpec {
    pub fn new(lens: Vec<usize>, offset: usize) -> MaskSpec {
        MaskSpec { lens, offset, built: RefCell::default() }
    }

    /// [`MaskSpec::build`], reusing a mask an earlier layer built. Only masks covering all
    /// queries of the pass are kept (blocks of a long sequence would add up to the whole
    /// `positions x positions` matrix).
    pub fn get(
        &self,
        queries: &Range<usize>,
        keys: &Range<usize>,
        window: Option<usize>,
        all_queries: bool,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let hit = self
            .built
            .borrow()
            .iter()
            .find(|(w, q, k, _)| *w == window && q == queries && k == keys)
            .map(|e| e.3.clone());
        if let Some(mask) = hit {
            return Ok(mask);
        }
        let mask = self.build(queries, keys, window, dtype, device)?;
        if all_queries {
            self.built.borrow_mut().push((window, queries.clone(), keys.clone(), mask.clone()));
        }
        Ok(mask)
    }

    /// Whether a mask is needed at all for queries `q0..q1` (indices into this pass) against
    /// keys `k0..k1` (absolute positions): not when every query sees every key (one new token,
    /// no window cutting in, no padding).
    pub fn is_trivial(&self, queries: &Range<usize>, keys: &Range<usize>, window: Option<usize>) -> bool {
        let (q0, q1, k0, k1) = (queries.start, queries.end, keys.start, keys.end);
        let no_padding = self.lens.iter().all(|&l| l >= k1);
        let causal_ok = self.offset + q0 + 1 >= k1; // the first query already sees every key
        let window_ok = match window {
            None => true,
            Some(w) => (self.offset + q1 - 1) < k0 + w, // the last query still sees key k0
        };
        no_padding && causal_ok && window_ok
    }

    /// Additive mask `(batch, 1, queries, keys)`: 0 where allowed, -inf elsewhere.
    pub fn build(
        &self,
        queries: &Range<usize>,
        keys: &Range<usize>,
        window: Option<usize>,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let (q0, q1, k0, k1) = (queries.start, queries.end, keys.start, keys.end);
        let (nq, nk) = (q1 - q0, k1 - k0);
        let mut data = vec![f32::NEG_INFINITY; self.lens.len() * nq * nk];
        for (b, &len) in self.lens.iter().enumerate() {
            for qi in 0..nq {
                let p = self.offset + q0 + qi;
                let row = &mut data[(b * nq + qi) * nk..(b * nq + qi + 1) * nk];
                if p >= len {
                    if (k0..k1).contains(&p) {
                        row[p - k0] = 0.0;
                    }
                    continue;
                }
                let lo = match window {
                    Some(w) => (p + 1).saturating_sub(w),
                    None => 0,
                };
                for j in lo.max(k0)..=p.min(k1 - 1) {
                    row[j - k0] = 0.0;
                }
            }
        }
        Tensor::from_vec(data, (self.lens.len(), 1, nq, nk), device)?.to_dtype(dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(spec: &MaskSpec, window: Option<usize>, t: usize) -> Vec<Vec<Vec<bool>>> {
        let m = spec.build(&(0..t), &(0..t), window, DType::F32, &Device::Cpu).unwrap();
        let v = m.squeeze(1).unwrap().to_vec3::<f32>().unwrap();
        v.into_iter().map(|b| b.into_iter().map(|r| r.into_iter().map(|x| x == 0.0).collect()).collect()).collect()
    }

    #[test]
    fn causal_with_key_padding() {
        let spec = MaskSpec::new(vec![3, 2], 0);
        let a = allowed(&spec, None, 3);
        assert_eq!(a[0][2], vec![true, true, true]);
        assert_eq!(a[0][0], vec![true, false, false]);
        assert_eq!(a[1][1], vec![true, true, false]);
        assert_eq!(a[1][2], vec![false, false, true]); // padding query: itself only
    }

    #[test]
    fn sliding_window_sees_w_keys_including_itself() {
        let spec = MaskSpec::new(vec![5], 0);
        let a = allowed(&spec, Some(2), 5);
        assert_eq!(a[0][4], vec![false, false, false, true, true]);
        assert_eq!(a[0][0], vec![true, false, false, false, false]);
    }

    #[test]
    fn trivial_cases() {
        let spec = MaskSpec::new(vec![10], 9);
        assert!(spec.is_trivial(&(0..1), &(0..10), None));
        assert!(!spec.is_trivial(&(0..1), &(0..10), Some(4)));
        let prefill = MaskSpec::new(vec![10], 0);
        assert!(!prefill.is_trivial(&(0..10), &(0..10), None));
    }
}
