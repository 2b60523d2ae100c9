//! How many TCP connections the machine has opened, from `/proc/net/snmp` (`Tcp: ActiveOpens`):
//! read before and after a run, the difference says whether a route reuses its connections.
//! The counter is machine-wide, so anything else running adds to it.

/// `ActiveOpens` now, or `None` where `/proc/net/snmp` cannot be read.
pub(crate) fn active_opens() -> Option<u64> {
    parse(&std::fs::read_to_string("/proc/net/snmp").ok()?)
}

fn parse(snmp: &str) -> Option<u64> {
    let mut tcp = snmp.lines().filter(|line| line.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let column = names.split_whitespace().position(|n| n == "ActiveOpens")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tcp_lines() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens\n\
                    Tcp: 1 200 120000 -1 4242 17\n";
        assert_eq!(parse(snmp), Some(4242));
        assert_eq!(parse("Ip: 1\n"), None);
    }
}
