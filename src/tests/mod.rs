//! In-kernel tests, one module per subject, plus the narrated demo. Every test
//! asserts an outcome read from live hardware tables: what LRAG returns, what a
//! load through the mapping reads, which program interruption an access raises.
pub mod boot;
pub mod demo;
