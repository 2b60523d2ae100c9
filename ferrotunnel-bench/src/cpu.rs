//! CPU time of a process, read from `/proc/<pid>/stat` (no `unsafe`, no libc): user plus
//! system time, which the kernel counts in clock ticks of 1/100 s (`USER_HZ`, 100 on every
//! Linux the harness runs on).
//!
//! CPU time per request is steadier than requests per second on a shared machine: a neighbour
//! that takes a core slows a run down, but barely changes what each request cost.

use anyhow::{Context as _, bail};

const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU time of process `pid` so far, in seconds.
pub(crate) fn seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse(&stat).with_context(|| format!("{path} is not a stat line: {stat:?}"))
}

fn parse(stat: &str) -> anyhow::Result<f64> {
    // `pid (comm) state ppid …`: the name may hold spaces and parentheses, so the fields are
    // counted from the last `)`. utime and stime are fields 14 and 15, the 12th and 13th after it.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        bail!("no `)` after the process name");
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        let field = fields.get(i).context("too few fields")?;
        Ok(field
            .parse::<u64>()
            .with_context(|| format!("bad field {field:?}"))? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_become_seconds() {
        let stat = "4242 (ferro tunnel) S 1 4242 4242 0 -1 4194304 1070 0 0 0 250 75 0 0 20 0 \
                    9 0 1234 56789 1234 18446744073709551615";
        assert_eq!(parse(stat).expect("parses"), 3.25);
        assert!(parse("4242 (x) S 1").is_err());
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let used = seconds(std::process::id()).expect("readable");
        assert!(used >= 0.0, "{used}");
    }
}
