//! Elementary functions of `f32` in plain arithmetic: no call into the C library, no branch, no table, so that
//! the loops that use them compile to vector code. (The sigmoid's `expf` has its own bit-exact copy of glibc's,
//! in `layers/dense/sigmoid.rs`.)

mod ln;

pub(crate) use ln::ln;
