//! A description of the machine a run measured, printed above the table: numbers only mean
//! something next to the hardware and the load they were measured on.

use std::process::Command;

/// What is known about the machine; every field is best effort.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) memory: String,
    pub(crate) kernel: String,
    pub(crate) rustc: String,
    pub(crate) profile: &'static str,
    /// `/proc/loadavg` when the run started: a busy machine makes every figure worse.
    pub(crate) load: String,
}

impl Machine {
    pub(crate) fn describe() -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "unknown CPU".to_owned(), |(_, m)| m.trim().to_owned());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let memory = read("/proc/meminfo")
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(
                || "unknown".to_owned(),
                |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0),
            );
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
        let rustc = Command::new("rustc")
            .arg("-V")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map_or_else(|| "unknown".to_owned(), |v| v.trim().to_owned());
        let load = read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            cpu,
            cores,
            memory,
            kernel,
            rustc,
            // The harness and the `ferrotunnel` binary are built by the same cargo command.
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            load,
        }
    }

    /// The lines printed above the table.
    pub(crate) fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "machine: {} cores ({}), {} RAM, Linux {}",
                self.cores, self.cpu, self.memory, self.kernel
            ),
            format!(
                "build:   {} profile, {}; load average at start: {}",
                self.profile, self.rustc, self.load
            ),
        ]
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
