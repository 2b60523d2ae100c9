//! Resident memory of a process, read from `/proc/<pid>/status` (no `unsafe`, no libc).
//!
//! `VmRSS` is what the process holds now; `VmHWM` is the most it has held since it started
//! (the high-water mark). Both are in kB in the file and in MiB here.

use anyhow::{Context as _, bail};

/// One reading of a process's memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rss {
    /// Resident now, MiB.
    pub(crate) now: f64,
    /// Peak resident since start, MiB.
    pub(crate) peak: f64,
}

/// Reads the memory of process `pid`.
pub(crate) fn read(pid: u32) -> anyhow::Result<Rss> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse(&status).with_context(|| format!("{path} has no VmRSS/VmHWM lines"))
}

fn parse(status: &str) -> anyhow::Result<Rss> {
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .with_context(|| format!("no {name} line"))?;
        let kb: u64 = line
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("bad {name} value {line:?}"))?;
        Ok(kb as f64 / 1024.0)
    };
    let rss = Rss {
        now: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    };
    if rss.now <= 0.0 {
        bail!("VmRSS is zero: the process is a zombie");
    }
    Ok(rss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_two_lines() {
        let status = "Name:\tx\nVmHWM:\t    8192 kB\nVmRSS:\t    4096 kB\nThreads:\t3\n";
        assert_eq!(
            parse(status).expect("parses"),
            Rss {
                now: 4.0,
                peak: 8.0
            }
        );
        assert!(parse("Name:\tx\n").is_err());
    }

    #[test]
    fn reads_this_process() {
        let rss = read(std::process::id()).expect("own status");
        assert!(rss.now > 0.0 && rss.peak >= rss.now);
    }
}
