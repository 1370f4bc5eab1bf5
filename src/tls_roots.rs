//! Which certificate authorities patchwave's HTTPS clients trust: the PEM
//! bundle an environment variable names (a private CA), else the system's
//! bundle (as git and curl use), else Mozilla's roots built in.

use std::path::{Path, PathBuf};

const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The roots for a client configured by the environment variable `var`.
pub fn roots_for(var: &str) -> Result<ureq::tls::RootCerts, String> {
    let named = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    roots(named.as_deref())
}

/// The roots from `bundle`, or the system's, or the built-in ones.
pub fn roots(bundle: Option<&Path>) -> Result<ureq::tls::RootCerts, String> {
    let path = match bundle {
        Some(p) => p.to_path_buf(),
        None if Path::new(SYSTEM_BUNDLE).exists() => PathBuf::from(SYSTEM_BUNDLE),
        None => return Ok(ureq::tls::RootCerts::WebPki),
    };
    let pem = std::fs::read(&path)
        .map_err(|e| format!("cannot read the CA bundle {}: {e}", path.display()))?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!(
            "the CA bundle {} holds no PEM certificates",
            path.display()
        ));
    }
    Ok(ureq::tls::RootCerts::from(certs))
}
