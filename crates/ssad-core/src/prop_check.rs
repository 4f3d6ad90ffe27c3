//! The runner of the property tests, shared by the unit tests and the
//! integration tests (`tests/props.rs` includes this file by path).

use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

/// Run `test` on `cases` inputs drawn from `strategy` from proptest's fixed
/// seed, shrinking a failure to a minimal input: the same cases on every run
/// (this version's `proptest!` macro seeds from the OS).
pub fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    if let Err(e) = TestRunner::new_with_rng(config, rng).run(&strategy, test) {
        panic!("{e}");
    }
}
