//! CPython 3.11's `random.Random`, bit for bit: MT19937 seeded like `random.seed(int)`, and the
//! pure-Python methods upstream's loaders call (`random`, `getrandbits`, `randrange`, `randint`,
//! `choice`, `shuffle`, `sample`), with the same number and order of generator draws.
//!
//! Validators agree on their data only if every draw matches the Python validators', so each
//! method follows `Lib/random.py` and `Modules/_randommodule.c` line by line, quirks included
//! (`choice` on one element still draws; `sample` switches between its pool and set algorithms
//! at CPython's `setsize`).

use crate::seed::Seed;
use std::collections::HashSet;

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RandomError {
    #[error("empty range for randrange({start}, {stop}, {step})")]
    EmptyRange { start: i64, stop: i64, step: i64 },
    #[error("zero step for randrange()")]
    ZeroStep,
    #[error("cannot choose from an empty sequence")]
    EmptySequence,
    #[error("sample larger than population or is negative (k = {k}, population = {n})")]
    SampleTooLarge { k: usize, n: usize },
}

/// A CPython-compatible Mersenne Twister with the `random` module's methods.
#[derive(Clone)]
pub struct PyRandom {
    mt: [u32; N],
    index: usize,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PyRandom {{ index: {} }}", self.index)
    }
}

impl PyRandom {
    /// `random.seed(seed)` for the round seed (a non-negative 256-bit int).
    pub fn from_seed(seed: &Seed) -> PyRandom {
        PyRandom::from_magnitude_be(&seed.to_be_bytes())
    }

    /// `random.seed(n)` for a machine-size int; Python seeds with `abs(n)`.
    pub fn from_int(n: i128) -> PyRandom {
        PyRandom::from_magnitude_be(&n.unsigned_abs().to_be_bytes())
    }

    /// `random.seed(n)` for the non-negative int whose big-endian bytes are given.
    pub fn from_magnitude_be(bytes: &[u8]) -> PyRandom {
        // _randommodule.c random_seed: the 32-bit little-endian words of abs(n), at least one.
        let mut key: Vec<u32> =
            bytes.rchunks(4).map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | b as u32)).collect();
        while key.len() > 1 && *key.last().unwrap() == 0 {
            key.pop();
        }
        if key.is_empty() {
            key.push(0);
        }
        let mut r = PyRandom { mt: [0; N], index: N + 1 };
        r.init_by_array(&key);
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..N {
            let prev = self.mt[i - 1];
            self.mt[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
        }
        self.mt[0] = 0x8000_0000;
    }

    fn twist(&mut self) {
        let mag = |y: u32| if y & 1 == 1 { MATRIX_A } else { 0 };
        for kk in 0..N - M {
            let y = (self.mt[kk] & UPPER_MASK) | (self.mt[kk + 1] & LOWER_MASK);
            self.mt[kk] = self.mt[kk + M] ^ (y >> 1) ^ mag(y);
        }
        for kk in N - M..N - 1 {
            let y = (self.mt[kk] & UPPER_MASK) | (self.mt[kk + 1] & LOWER_MASK);
            self.mt[kk] = self.mt[kk + M - N] ^ (y >> 1) ^ mag(y);
        }
        let y = (self.mt[N - 1] & UPPER_MASK) | (self.mt[0] & LOWER_MASK);
        self.mt[N - 1] = self.mt[M - 1] ^ (y >> 1) ^ mag(y);
        self.index = 0;
    }

    /// One 32-bit output of the generator (`genrand_uint32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.random()`: 53 bits from two draws.
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.getrandbits(k)` as little-endian 32-bit words (any `k`; `k == 0` gives no words
    /// and draws nothing, like CPython >= 3.9).
    pub fn getrandbits_words(&mut self, k: u32) -> Vec<u32> {
        let mut words = Vec::with_capacity(k.div_ceil(32) as usize);
        let mut left = k;
        while left > 0 {
            let mut r = self.next_u32();
            if left < 32 {
                r >>= 32 - left;
            }
            words.push(r);
            left = left.saturating_sub(32);
        }
        words
    }

    /// `random.getrandbits(k)` for `k <= 64`.
    pub fn getrandbits(&mut self, k: u32) -> u64 {
        assert!(k <= 64, "getrandbits({k}) does not fit a u64; use getrandbits_words");
        if k <= 32 {
            // One draw; CPython's fast path for k <= 32 is `genrand >> (32 - k)`.
            return if k == 0 { 0 } else { (self.next_u32() >> (32 - k)) as u64 };
        }
        let w = self.getrandbits_words(k);
        w[0] as u64 | (w[1] as u64) << 32
    }

    /// `Random._randbelow_with_getrandbits(n)`: rejection sampling on `n.bit_length()` bits.
    /// Defined for `n > 0`.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let k = 64 - n.leading_zeros();
        let mut r = self.getrandbits(k);
        while r >= n {
            r = self.getrandbits(k);
        }
        r
    }

    /// `random.randrange(start, stop, step)`.
    pub fn randrange(&mut self, start: i64, stop: i64, step: i64) -> Result<i64, RandomError> {
        let width = stop as i128 - start as i128;
        let empty = RandomError::EmptyRange { start, stop, step };
        if step == 1 {
            if width > 0 {
                return Ok((start as i128 + self.randbelow(width as u64) as i128) as i64);
            }
            return Err(empty);
        }
        let step_w = step as i128;
        let n = match step.signum() {
            1 => floor_div(width + step_w - 1, step_w),
            -1 => floor_div(width + step_w + 1, step_w),
            _ => return Err(RandomError::ZeroStep),
        };
        if n <= 0 {
            return Err(empty);
        }
        Ok((start as i128 + step_w * self.randbelow(n as u64) as i128) as i64)
    }

    /// `random.randint(a, b)`, both ends included.
    pub fn randint(&mut self, a: i64, b: i64) -> Result<i64, RandomError> {
        let stop = b.checked_add(1).ok_or(RandomError::EmptyRange { start: a, stop: b, step: 1 })?;
        self.randrange(a, stop, 1)
    }

    /// `random.choice(seq)`.
    pub fn choice<'a, T>(&mut self, seq: &'a [T]) -> Result<&'a T, RandomError> {
        if seq.is_empty() {
            return Err(RandomError::EmptySequence);
        }
        Ok(&seq[self.randbelow(seq.len() as u64) as usize])
    }

    /// `random.shuffle(x)` in place.
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            let j = self.randbelow(i as u64 + 1) as usize;
            x.swap(i, j);
        }
    }

    /// `random.sample(range(n), k)`: the chosen indices, in selection order.
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Result<Vec<usize>, RandomError> {
        if k > n {
            return Err(RandomError::SampleTooLarge { k, n });
        }
        let mut result = Vec::with_capacity(k);
        if n <= sample_setsize(k) {
            // An n-length list is smaller than a k-length set: the pool algorithm.
            let mut pool: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = self.randbelow((n - i) as u64) as usize;
                result.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow(n as u64) as usize;
                while selected.contains(&j) {
                    j = self.randbelow(n as u64) as usize;
                }
                selected.insert(j);
                result.push(j);
            }
        }
        Ok(result)
    }

    /// `random.sample(population, k)`.
    pub fn sample<T: Clone>(&mut self, population: &[T], k: usize) -> Result<Vec<T>, RandomError> {
        Ok(self.sample_indices(population.len(), k)?.into_iter().map(|i| population[i].clone()).collect())
    }
}

/// Python's `//` (rounds toward negative infinity, unlike `div_euclid` for negative divisors).
fn floor_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// CPython's `setsize = 21 + (4 ** ceil(log(3k, 4)) if k > 5)`, with `math.log(x, 4)` computed
/// as Python does it: `log(x) / log(4)` in doubles.
fn sample_setsize(k: usize) -> usize {
    let mut setsize = 21usize;
    if k > 5 {
        let exponent = ((k as f64 * 3.0).ln() / 4f64.ln()).ceil();
        setsize += 4usize.pow(exponent as u32);
    }
    setsize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_mt19937_output() {
        // Matsumoto & Nishimura's mt19937ar.c test: init_by_array({0x123, 0x234, 0x345, 0x456})
        // prints 1067595299 955945823 477289528 4107218783 4228976476 first.
        let mut r = PyRandom { mt: [0; N], index: N + 1 };
        r.init_by_array(&[0x123, 0x234, 0x345, 0x456]);
        let first: Vec<u32> = (0..5).map(|_| r.next_u32()).collect();
        assert_eq!(first, vec![1067595299, 955945823, 477289528, 4107218783, 4228976476]);
    }

    #[test]
    fn setsize_matches_cpython_table() {
        // k <= 5: 21; k = 6 (log4 18 = 2.08): 21 + 64; k = 22 (log4 66 = 3.02): 21 + 256.
        assert_eq!(sample_setsize(5), 21);
        assert_eq!(sample_setsize(6), 85);
        assert_eq!(sample_setsize(21), 85);
        assert_eq!(sample_setsize(22), 277);
    }
}
