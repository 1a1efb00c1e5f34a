//! The agent's outbound HTTP client, for http checks and the webhook.
//!
//! One place builds it, so both speak https the same way: with the `tls`
//! feature (on by default) through rustls, trusting the system's
//! certificate store, or only the certificates of a `ca_file` when one is
//! configured (a private CA for internal services). Without the feature
//! an https URL is a configuration error, not a failure at run time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Which certificates an https request trusts.
#[derive(Debug, Clone, Default)]
pub(super) struct Trust {
    /// `None`: the system's store.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    only: Option<Arc<Vec<ureq::tls::Certificate<'static>>>>,
}

impl Trust {
    /// Trusts only the certificates in `path` (PEM, one or more).
    pub(super) fn from_ca_file(path: &Path) -> Result<Self, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut certificates = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(certificate)) => certificates.push(certificate),
                Ok(_) => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        if certificates.is_empty() {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
        Ok(Self {
            only: Some(Arc::new(certificates)),
        })
    }

    /// The system's store, or the file's certificates.
    pub(super) fn for_ca_file(path: Option<&Path>) -> Result<Self, String> {
        path.map_or_else(|| Ok(Self::default()), Self::from_ca_file)
    }
}

/// A client whose every request ends within `timeout` and which hands
/// back non-2xx answers instead of treating them as errors.
pub(super) fn client(timeout: Duration, trust: &Trust) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("herd/", env!("CARGO_PKG_VERSION")));
    #[cfg(feature = "tls")]
    let config = {
        use ureq::tls::{RootCerts, TlsConfig};
        let roots = match &trust.only {
            Some(certificates) => RootCerts::Specific(certificates.clone()),
            None => RootCerts::PlatformVerifier,
        };
        config.tls_config(TlsConfig::builder().root_certs(roots).build())
    };
    #[cfg(not(feature = "tls"))]
    let _ = trust;
    config.build().new_agent()
}

/// What is wrong with `url` as a target of this client, if anything.
pub(super) fn url_problem(url: &str) -> Option<String> {
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        if !cfg!(feature = "tls") {
            return Some(format!(
                "{url:?}: this herd was built without the `tls` feature; use http://"
            ));
        }
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else {
        return Some(format!("{url:?} is not an http:// or https:// URL"));
    };
    (rest.is_empty() || rest.starts_with('/')).then(|| format!("{url:?} has no host"))
}
