//! Architecture support. Only s390x exists; everything privileged lives in
//! [`s390x`], and nothing outside this folder contains `asm!`.
#[macro_use]
pub mod s390x;
