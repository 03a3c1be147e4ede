//! The architecture layer.
//!
//! Generic code names only what is re-exported here; a port to another architecture
//! provides the same names with the same meaning (the "same-names contract"). Nothing
//! outside this directory uses the `x86_64` crate or inline assembly.

mod x86_64;

pub use self::x86_64::*;
