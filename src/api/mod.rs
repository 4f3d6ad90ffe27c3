//! One module per SQL family.
pub mod cluster;
pub mod columns;
pub mod drift;
pub mod embed;
pub mod evaluate;
pub mod explain;
pub mod models;
pub mod score;
pub mod shard_topk;
pub mod stats;
pub mod topk;
pub mod train;
