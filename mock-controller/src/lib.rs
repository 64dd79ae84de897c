//! Intent controller library.
pub mod pathcomp;
