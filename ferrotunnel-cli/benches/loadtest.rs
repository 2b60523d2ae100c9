//! The load test: `cargo bench -p ferrotunnel-cli --bench loadtest` (add `-- --quick` for a
//! small run). See `docs/benchmarks.md`; the harness is the `ferrotunnel-bench` crate.

fn main() -> std::process::ExitCode {
    ferrotunnel_bench::bench_main(env!("CARGO_BIN_EXE_ferrotunnel"))
}
