//! Feed-forward blocks: gated (`down(act(gate(x)) * up(x))`, gate and up fused into one matmul)
//! and plain (`fc2(act(fc1(x)))`), with the activations the supported configs name.

use super::weights::Linear;
use candle_core::{Tensor, D};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Silu,
    /// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    GeluTanh,
    /// GELU, exact (erf).
    Gelu,
    Relu,
}

impl Activation {
    pub fn from_name(name: &str) -> Result<Activation, String> {
        Ok(match name {
            "silu" | "swish" => Activation::Silu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "gelu_tanh" => Activation::GeluTanh,
            "gelu" => Activation::Gelu,
            "relu" => Activation::Relu,
            other => return Err(format!("activation `{other}` is not supported")),
        })
    }

    pub fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Silu => x.silu(),
            Activation::GeluTanh => x.gelu(),
            Activation::Gelu => x.gelu_erf(),
            Activation::Relu => x.relu(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Mlp {
    /// `gate_up` holds the gate rows then the up rows.
    Gated {
        gate_up: Linear,
        down: Linear,
        act: Activation,
        intermediate: usize,
    },
    Plain {
        fc1: Linear,
        fc2: Linear,
        act: Activation,
    },
}

impl Mlp {
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Mlp::Gated { gate_up, down, act, intermediate } => {
                let both = gate_up.forward(x)?;
                let gate = both.narrow(D::Minus1, 0, *intermediate)?;
                let up = both.narrow(D::Minus1, *intermediate, *intermediate)?;
                down.forward(&(act.apply(&gate)? * up)?)
            }
            Mlp::Plain { fc1, fc2, act } => fc2.forward(&act.apply(&fc1.forward(x)?)?),
        }
    }
}
