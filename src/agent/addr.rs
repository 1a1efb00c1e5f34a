//! `host:port` strings: the seeds of `join` and the targets of tcp checks.
//!
//! A leaf module of its own because both the configuration and the checks
//! check such strings, and the configuration holds the checks: the helper
//! in either would make the two modules depend on each other.

/// Splits `host:port` (or `[v6]:port`), checking both parts.
pub fn split_host_port(seed: &str) -> Result<(&str, u16), String> {
    let (host, port) = seed
        .rsplit_once(':')
        .ok_or_else(|| format!("{seed:?} is not host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{seed:?} has no host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{seed:?} has no valid port"))?;
    if port == 0 {
        return Err(format!("{seed:?}: port 0 cannot be joined"));
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_pairs_are_checked() {
        assert_eq!(split_host_port("a.b:7946"), Ok(("a.b", 7946)));
        assert_eq!(split_host_port("[::1]:1"), Ok(("::1", 1)));
        assert!(split_host_port("a.b").is_err());
        assert!(split_host_port(":1").is_err());
        assert!(split_host_port("a:x").is_err());
    }
}
