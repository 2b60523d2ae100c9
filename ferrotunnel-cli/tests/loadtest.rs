//! The load test in quick mode, as a test that the harness works end to end: every figure is
//! produced, every request succeeds, every value is positive. Nothing here is timed pass/fail.
//! Its own `main` (`harness = false`), because the harness re-executes this binary as the
//! local service.

fn main() -> std::process::ExitCode {
    ferrotunnel_bench::test_main(env!("CARGO_BIN_EXE_ferrotunnel"))
}
