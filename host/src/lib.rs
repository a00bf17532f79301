//! `foldkern-host`: the host's study code beside the kernel, over the same
//! portable library (`foldkern`): the walk over other architectures' folding
//! rules ([`model`]) and pictures of a scenario drawn from the walk's own
//! steps ([`pictures`]), and a step-by-step explainer page ([`explain`]), both
//! from one walk of each variant ([`study`]). The harness that boots the
//! kernel (the root package's `tests/kernel.rs`) draws its pictures with this
//! crate.
#![warn(missing_docs)]

pub mod explain;
pub mod model;
pub mod pictures;
pub mod study;
