//! What a training reports as it goes: its caller (the Postgres backend)
//! checks for interrupts at each event and may cancel.

/// Progress reported to the caller; returning `false` cancels training.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Batch {
        step: usize,
        steps: usize,
    },
    Epoch {
        epoch: u32,
        epochs: u32,
        loss: f64,
    },
    /// After training and calibration: a step of the student's distillation.
    Distill {
        step: usize,
        steps: usize,
    },
}
