//! How big a run is: the full benchmark, or `--quick` (the same figures with small sizes and
//! one run, to prove the harness works end to end).
//!
//! Arguments: `--quick`, `--runs N`, `--no-peers`, `--feature-columns`, `--only PART,…` (see
//! [`Part`]). Anything else is ignored with a note on stderr, because cargo passes its own
//! (`--bench` to benchmarks).

use std::time::Duration;

use anyhow::{Context as _, bail};

/// A part of the run that `--only` can pick. Memory at idle and after traffic is read in every
/// run: it costs nothing but the settle time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Latency at a fixed rate.
    Latency,
    /// Max requests per second, and CPU per request.
    Rate,
    /// Downloads on one stream and on several.
    Download,
    /// Process start to first request served.
    Startup,
    /// A server's memory with many tunnels.
    Tunnels,
    /// Memory holding many streams.
    Held,
}

impl Part {
    const ALL: [(Part, &'static str); 6] = [
        (Part::Latency, "latency"),
        (Part::Rate, "rate"),
        (Part::Download, "download"),
        (Part::Startup, "startup"),
        (Part::Tunnels, "tunnels"),
        (Part::Held, "held"),
    ];

    fn parse(name: &str) -> anyhow::Result<Self> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(part, _)| *part)
            .with_context(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "--only: {name:?} is not a part of the run; the parts are {}",
                    names.join(", ")
                )
            })
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(part, _)| *part == self)
            .map_or("?", |(_, n)| n)
    }
}

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    /// Measured runs per figure; the report gives the median.
    pub runs: usize,
    /// Compare with `rathole` and `bore` when they are on `PATH`, and with the published
    /// ferrotunnel 1.5 when `FERROTUNNEL_1_5_BIN` names its binary.
    pub peers: bool,
    /// A column for each layer alone (policy, dashboard, metrics, traces) besides the one with
    /// them all on, and one whose client reaches its server over TLS: always in the quick run,
    /// which proves each works; on request in the full run, where every column costs about a
    /// minute and a half.
    pub feature_columns: bool,
    /// The parts to measure; `None` is every part.
    pub only: Option<Vec<Part>>,

    /// Latency: requests per second, open loop.
    pub latency_rate: u32,
    pub latency_connections: usize,
    pub latency_warmup: Duration,
    pub latency_duration: Duration,

    /// Max requests per second: keep-alive connections, closed loop.
    pub rate_connections: usize,
    pub rate_warmup: Duration,
    pub rate_duration: Duration,

    /// Download: body size of the single stream, and total over the parallel streams.
    pub download_bytes: u64,
    pub download_streams: usize,
    /// A transfer still running after this is stopped and reported as incomplete.
    pub download_cap: Duration,

    /// Registered tunnels for the memory figure, and how many one client registers.
    pub tunnels: usize,
    pub tunnels_per_client: usize,

    /// Concurrent held streams for the memory figure, and how many may be opening at once.
    pub held_streams: usize,
    pub held_ramp: usize,

    /// Client starts timed for the start-up figure.
    pub startup_runs: usize,

    /// How long after the traffic memory is read a second time: what a user sees when they
    /// look a moment later.
    pub settle: Duration,
}

impl Options {
    /// The full benchmark (about six minutes on two cores, plus any peers).
    pub fn full() -> Self {
        Self {
            quick: false,
            runs: 3,
            peers: true,
            feature_columns: false,
            only: None,
            latency_rate: 1000,
            latency_connections: 8,
            latency_warmup: Duration::from_secs(2),
            latency_duration: Duration::from_secs(10),
            rate_connections: 64,
            rate_warmup: Duration::from_secs(1),
            rate_duration: Duration::from_secs(5),
            download_bytes: 1 << 30,
            download_streams: 8,
            download_cap: Duration::from_secs(60),
            tunnels: 1000,
            tunnels_per_client: 16,
            held_streams: 10_000,
            held_ramp: 256,
            startup_runs: 5,
            settle: Duration::from_secs(3),
        }
    }

    /// Every figure, small: a second or less each.
    pub fn quick() -> Self {
        Self {
            quick: true,
            runs: 1,
            feature_columns: true,
            latency_warmup: Duration::from_millis(200),
            latency_duration: Duration::from_secs(1),
            rate_warmup: Duration::from_millis(200),
            rate_duration: Duration::from_secs(1),
            download_bytes: 16 << 20,
            download_cap: Duration::from_secs(20),
            held_streams: 500,
            held_ramp: 64,
            startup_runs: 1,
            settle: Duration::from_secs(1),
            ..Self::full()
        }
    }

    /// Parses the arguments after the program name.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> anyhow::Result<Self> {
        let args: Vec<String> = args.into_iter().collect();
        let mut options = if args.iter().any(|a| a == "--quick") {
            Self::quick()
        } else {
            Self::full()
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                // `--bench` is what cargo passes to every benchmark.
                "--quick" | "--bench" => {}
                "--no-peers" => options.peers = false,
                "--feature-columns" => options.feature_columns = true,
                "--runs" => {
                    let n = args.next().context("--runs needs a number")?;
                    options.runs = n
                        .parse()
                        .with_context(|| format!("--runs {n:?} is not a number"))?;
                    if options.runs == 0 {
                        bail!("--runs must be at least 1");
                    }
                }
                "--only" => {
                    let list = args.next().context("--only needs a list of parts")?;
                    let parts = list
                        .split(',')
                        .map(|name| Part::parse(name.trim()))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    options.only = Some(parts);
                }
                // Anything a caller passes to every bench or test binary.
                other => eprintln!("loadtest: ignoring argument {other:?}"),
            }
        }
        Ok(options)
    }

    /// Whether the run measures `part`.
    pub fn measures(&self, part: Part) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&part))
    }

    /// A one-line summary of the sizes, for the report.
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "plan:    {} mode, {} measured run(s) per figure (median reported), warm-up before each figure",
                if self.quick { "quick" } else { "full" },
                self.runs
            ),
            format!(
                "         latency: {} req/s open loop over {} connections for {:?}; max rate: {} connections for {:?}",
                self.latency_rate,
                self.latency_connections,
                self.latency_duration,
                self.rate_connections,
                self.rate_duration
            ),
            format!(
                "         download: {} MiB on 1 stream, {} MiB over {} streams; {} tunnels ({} per client); {} held streams",
                self.download_bytes >> 20,
                self.download_bytes >> 20,
                self.download_streams,
                self.tunnels,
                self.tunnels_per_client,
                self.held_streams
            ),
        ];
        if let Some(only) = &self.only {
            let names: Vec<&str> = only.iter().map(|part| part.name()).collect();
            lines.push(format!(
                "         only: {} (and memory at idle and after traffic)",
                names.join(", ")
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        Options::from_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn cargo_arguments_are_ignored() {
        let options = parse(&["--bench"]).expect("parses");
        assert!(!options.quick);
        assert_eq!(options.runs, 3);
    }

    #[test]
    fn quick_and_runs() {
        let options = parse(&["--runs", "5", "--quick", "--no-peers"]).expect("parses");
        assert!(options.quick && !options.peers);
        assert_eq!(options.runs, 5);
        assert!(parse(&["--runs"]).is_err());
        assert!(parse(&["--runs", "0"]).is_err());
    }

    #[test]
    fn only_picks_parts_and_names_the_valid_ones_when_wrong() {
        let all = parse(&[]).expect("parses");
        assert!(all.measures(Part::Latency) && all.measures(Part::Held));
        let some = parse(&["--only", "rate,download"]).expect("parses");
        assert!(some.measures(Part::Rate) && some.measures(Part::Download));
        assert!(!some.measures(Part::Latency) && !some.measures(Part::Held));
        assert!(
            some.describe()
                .last()
                .expect("a plan")
                .contains("rate, download")
        );
        let err = parse(&["--only", "rate,speed"]).expect_err("an unknown part");
        assert!(
            format!("{err:#}").contains("\"speed\" is not a part"),
            "{err:#}"
        );
        assert!(format!("{err:#}").contains("latency, rate, download, startup, tunnels, held"));
        assert!(parse(&["--only"]).is_err());
    }
}
