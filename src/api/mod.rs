//! One module per SQL family.
pub mod score;
pub mod train;
