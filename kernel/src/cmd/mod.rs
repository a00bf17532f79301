//! The jobs other than testing: the narrated demo and user scenarios, the
//! benchmark, and the command line that picks one.
pub mod bench;
pub mod cmdline;
pub mod demo;
