//! Building blocks shared by the architectures: rotary embedding, attention (with masks and
//! KV cache), norms, MLPs, weight loading helpers, and the decoder they assemble into.

pub mod attention;
pub mod decoder;
pub mod mask;
pub mod mlp;
pub mod norm;
pub mod rotary;
pub mod weights;
