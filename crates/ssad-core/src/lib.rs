//! ssad-core: the Postgres-free heart of ssad. Column encoding, the
//! masked-column model, training, scoring, explanations, the model codec and
//! evaluation metrics. The pgrx crate at the repository root is thin glue.

pub mod aligned;
pub mod batch;
pub mod calibrate;
pub mod codec;
pub mod density;
pub mod distill;
pub mod drift;
pub mod embed;
pub mod encode;
pub mod error;
pub mod kernels;
pub mod knn;
pub mod linalg;
pub mod linear;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod options;
pub mod progress;
#[cfg(test)]
mod prop_check;
pub mod reservoir;
pub mod rng;
pub mod rows;
pub mod sample;
pub mod schema;
pub mod score_memo;
pub mod student;
pub mod tails;
pub mod time;
pub mod train;

pub use encode::Expected;
pub use error::{CoreError, Result};
pub use model::{Contribution, Model, Scratch};
pub use options::{ResolvedOptions, TrainOptions};
pub use progress::Event;
pub use rows::Rows;
pub use sample::{Sample, SampleReservoir};
pub use schema::{ColumnKind, ColumnSpec, Value};
pub use train::{train, TrainReport};

/// Build the explicit rayon pool that training and batch scoring run in.
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("ssad-worker-{i}"))
        .build()
        .map_err(|e| CoreError::InvalidOption(format!("cannot start {threads} threads: {e}")))
}
