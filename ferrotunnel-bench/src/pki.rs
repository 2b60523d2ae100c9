//! A private CA and a certificate it issued for `localhost` and 127.0.0.1, as PEM files in a
//! directory of their own that goes away with them: what the `ferrotunnel+tls` column's server
//! serves its control port with, and what its client trusts (`--ca`).

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use anyhow::Context as _;

/// The files, removed on drop.
#[derive(Debug)]
pub(crate) struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Generates a CA and a certificate it signed for `localhost` and 127.0.0.1, and writes
    /// them.
    pub(crate) fn generate() -> anyhow::Result<Self> {
        // Each its own directory, however many one process makes.
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "FerroTunnel load test CA");
        let ca_key = rcgen::KeyPair::generate()?;
        let ca = ca_params.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate()?;
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let cert = rcgen::CertificateParams::new(names)?.signed_by(&key, &issuer)?;

        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("ferrotunnel-bench-pki-{pid}-{n}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let pki = Self { dir };
        for (path, pem) in [
            (pki.ca(), ca.pem()),
            (pki.cert(), cert.pem()),
            (pki.key(), key.serialize_pem()),
        ] {
            std::fs::write(&path, pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(pki)
    }

    /// The CA certificate, for the client's `--ca`.
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's certificate, for `--tls-cert`.
    pub(crate) fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The server's private key, for `--tls-key`.
    pub(crate) fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pem_files_and_removes_them_on_drop() {
        let pki = Pki::generate().unwrap();
        for path in [pki.ca(), pki.cert(), pki.key()] {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("-----BEGIN "),
                "{}: {text}",
                path.display()
            );
        }
        let dir = pki.dir.clone();
        drop(pki);
        assert!(!dir.exists());
    }
}
