//! Host models of other architectures, as far as the 2020 bug class needs them.
pub mod arm64;
pub mod folding;
