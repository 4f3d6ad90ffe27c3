//! One module per SQL family.
pub mod explain;
pub mod score;
pub mod train;
