//! `host:port` strings: the seeds of `join` and the targets of tcp checks.
//!
//! A leaf module of its own because both the configuration and the checks
//! check such strings, and the configuration holds the checks: the helper
//! in either would make the two modules depend on each other.

/// Why a string is not a `host:port` that can be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum AddrError {
    /// No `:` at all.
    #[error("{0:?} is not host:port")]
    NoPort(String),
    /// Nothing before the `:`.
    #[error("{0:?} has no host")]
    NoHost(String),
    /// What follows the `:` is not a port number.
    #[error("{0:?} has no valid port")]
    BadPort(String),
    /// Port 0: a wildcard for binding, nothing to connect to.
    #[error("{0:?}: port 0 cannot be joined")]
    PortZero(String),
}

/// Splits `host:port` (or `[v6]:port`), checking both parts.
pub(super) fn split_host_port(seed: &str) -> Result<(&str, u16), AddrError> {
    let (host, port) = seed
        .rsplit_once(':')
        .ok_or_else(|| AddrError::NoPort(seed.to_owned()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(AddrError::NoHost(seed.to_owned()));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| AddrError::BadPort(seed.to_owned()))?;
    if port == 0 {
        return Err(AddrError::PortZero(seed.to_owned()));
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
        // The messages name the string, as configuration errors do.
        assert_eq!(
            split_host_port("h:0").unwrap_err().to_string(),
            "\"h:0\": port 0 cannot be joined"
        );
    }
}
