//! TLS with rustls and the `ring` crypto provider.
//!
//! The provider is chosen per configuration, never installed process-wide, so an application
//! that embeds FerroTunnel keeps whatever default provider it installs itself. Tunnels (`tls://`,
//! `wss://`) speak TLS 1.3 only; the HTTPS ingress that serves visitors also accepts TLS 1.2.

use std::{
    fmt, io,
    path::Path,
    sync::{Arc, OnceLock},
};

use rustls::{
    AlertDescription, CertificateError, ClientConfig, RootCertStore, ServerConfig,
    SupportedProtocolVersion,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    sign::{CertifiedKey, SingleCertAndKey},
    version::{TLS12, TLS13},
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{Acceptor, BoxFuture, BoxIo, Transport};
use crate::{Error, Result};

/// Versions a tunnel accepts, on both ends.
const TUNNEL_VERSIONS: &[&SupportedProtocolVersion] = &[&TLS13];
/// Versions the HTTPS ingress accepts from visitors' browsers.
const HTTPS_VERSIONS: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];

fn ring() -> Arc<CryptoProvider> {
    static RING: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    RING.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

// === impl ClientTls ===

/// How a client verifies the server's certificate on `tls://` and `wss://`.
///
/// Cheap to clone: the configurations are built once and shared.
#[derive(Clone)]
pub struct ClientTls {
    roots: Roots,
    tunnel: Arc<ClientConfig>,
    websocket: Arc<ClientConfig>,
}

/// Where the trusted certificate authorities came from, for `Debug` and error hints.
#[derive(Clone)]
enum Roots {
    /// The operating system's trust store.
    Platform { certificates: usize },
    /// The Mozilla roots compiled in through `webpki-roots`.
    BuiltIn,
    /// Only the CA certificates from one PEM file or buffer.
    Ca { origin: String, certificates: usize },
}

impl ClientTls {
    /// Trusts the certificate authorities of the operating system's trust store, loaded with
    /// `rustls-native-certs` (which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`). If that store
    /// yields no usable certificate, trusts the Mozilla roots compiled in through `webpki-roots`
    /// instead, and logs a warning.
    ///
    /// The first call reads the trust store (a blocking read of a few milliseconds); later calls
    /// share the result.
    pub fn platform() -> Self {
        static PLATFORM: OnceLock<ClientTls> = OnceLock::new();
        PLATFORM
            .get_or_init(|| {
                let (store, roots) = platform_roots();
                Self::with_roots(store, roots)
            })
            .clone()
    }

    /// Trusts only the CA certificates in `pem` (one or more `-----BEGIN CERTIFICATE-----`
    /// blocks), for servers whose certificate a private CA issued.
    pub fn from_ca_pem(pem: &[u8]) -> Result<Self> {
        Self::from_ca_pem_named(pem, "the CA PEM")
    }

    /// Trusts only the CA certificates in the PEM file at `path`.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|err| {
            Error::Tls(format!(
                "cannot read the CA certificate file {}: {err}",
                path.display()
            ))
        })?;
        Self::from_ca_pem_named(&pem, &path.display().to_string())
    }

    fn from_ca_pem_named(pem: &[u8], origin: &str) -> Result<Self> {
        let certificates = parse_certificates(pem, origin)?;
        if certificates.is_empty() {
            return Err(Error::Tls(format!(
                "no certificate found in {origin}; expected the CA certificate as a PEM \
                 -----BEGIN CERTIFICATE----- block"
            )));
        }
        let mut store = RootCertStore::empty();
        for (index, certificate) in certificates.into_iter().enumerate() {
            store.add(certificate).map_err(|err| {
                Error::Tls(format!(
                    "certificate #{} in {origin} cannot be used as a CA: {err}",
                    index + 1
                ))
            })?;
        }
        let roots = Roots::Ca {
            origin: origin.to_owned(),
            certificates: store.len(),
        };
        Ok(Self::with_roots(store, roots))
    }

    fn with_roots(store: RootCertStore, roots: Roots) -> Self {
        let store = Arc::new(store);
        let config = |alpn: &[&[u8]]| {
            let mut config = ClientConfig::builder_with_provider(ring())
                .with_protocol_versions(TUNNEL_VERSIONS)
                .expect("the ring provider supports TLS 1.3")
                .with_root_certificates(store.clone())
                .with_no_client_auth();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(config)
        };
        Self {
            roots,
            tunnel: config(&[]),
            // A WebSocket upgrade is HTTP/1.1; saying so lets an HTTPS front end that also
            // speaks h2 pick the right protocol.
            websocket: config(&[b"http/1.1"]),
        }
    }

    /// What to tell the user when the server's certificate has an unknown issuer.
    fn unknown_issuer_hint(&self) -> String {
        match &self.roots {
            Roots::Platform { .. } | Roots::BuiltIn => {
                "the server's certificate is not signed by a CA this machine trusts; \
                 pass the server's CA with --ca"
                    .to_owned()
            }
            Roots::Ca { origin, .. } => {
                format!("the server's certificate is not signed by the CA in {origin}; check --ca")
            }
        }
    }

    /// What to tell the user when a certificate of the server's chain is not signed by the
    /// key of the issuer it names: for a trusted CA, one with the same name but another key,
    /// most often a CA that was created again.
    fn bad_signature_hint(&self) -> String {
        match &self.roots {
            Roots::Platform { .. } | Roots::BuiltIn => {
                "the server's certificate is not signed by the key of the CA it names; check the \
                 server's certificate chain, or pass the server's CA with --ca"
                    .to_owned()
            }
            Roots::Ca { origin, .. } => format!(
                "the server's certificate names a CA in {origin} as its issuer but is not signed \
                 by that CA's key (was the CA created again?); check --ca"
            ),
        }
    }
}

impl Default for ClientTls {
    /// [`ClientTls::platform`].
    fn default() -> Self {
        Self::platform()
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &format_args!("{}", self.roots))
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::Platform { certificates } => {
                write!(f, "the platform trust store ({certificates} CAs)")
            }
            Roots::BuiltIn => f.write_str("the built-in Mozilla roots (webpki-roots)"),
            Roots::Ca {
                origin,
                certificates,
            } => write!(f, "{origin} ({certificates} CAs)"),
        }
    }
}

fn platform_roots() -> (RootCertStore, Roots) {
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::debug!(error = %err, "skipping part of the platform's trust store");
    }
    let mut store = RootCertStore::empty();
    let (added, _unusable) = store.add_parsable_certificates(native.certs);
    if added > 0 {
        return (
            store,
            Roots::Platform {
                certificates: added,
            },
        );
    }
    tracing::warn!(
        "the platform's trust store has no usable CA certificate; trusting the Mozilla roots \
         built into FerroTunnel instead"
    );
    let store = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    (store, Roots::BuiltIn)
}

/// What the client's TLS connection will carry.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    /// yamux directly (`tls://`).
    Tunnel,
    /// A WebSocket upgrade, then yamux (`wss://`).
    WebSocket,
}

/// Runs a TLS 1.3 client handshake on `tcp`, checking the certificate for `host`.
pub(super) async fn connect(
    tcp: TcpStream,
    host: &str,
    port: u16,
    tls: &ClientTls,
    purpose: Purpose,
) -> Result<TlsStream<TcpStream>> {
    let server_name = ServerName::try_from(host.to_owned()).map_err(|_| {
        Error::Config(format!(
            "{host:?} is neither a DNS name nor an IP address, so it cannot be checked against \
             the server's certificate"
        ))
    })?;
    let config = match purpose {
        Purpose::Tunnel => tls.tunnel.clone(),
        Purpose::WebSocket => tls.websocket.clone(),
    };
    tokio_rustls::TlsConnector::from(config)
        .connect(server_name, tcp)
        .await
        .map_err(|err| client_handshake_error(&err, host, port, tls, purpose))
}

fn client_handshake_error(
    err: &io::Error,
    host: &str,
    port: u16,
    tls: &ClientTls,
    purpose: Purpose,
) -> Error {
    let failed = format!("TLS handshake with {host}:{port} failed");
    let Some(tls_err) = rustls_error(err) else {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            let plain = match purpose {
                Purpose::Tunnel => "a plain FerroTunnel port needs tcp://",
                Purpose::WebSocket => "a plain HTTP port needs ws://",
            };
            return Error::Tls(format!(
                "{failed}: the server closed the connection; is this a TLS port? ({plain})"
            ));
        }
        return Error::Tls(format!("{failed}: {err}"));
    };
    let hint = match tls_err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => tls.unknown_issuer_hint(),
            CertificateError::BadSignature => tls.bad_signature_hint(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("connect with a name the server's certificate covers instead of {host:?}")
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                "check the dates of the server's certificate and this machine's clock".to_owned()
            }
            _ => "check the server's certificate".to_owned(),
        },
        rustls::Error::PeerIncompatible(_)
        | rustls::Error::AlertReceived(AlertDescription::ProtocolVersion) => {
            "the server does not offer TLS 1.3, which FerroTunnel tunnels require".to_owned()
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not answer with TLS; is this a plain tcp:// or ws:// port?".to_owned()
        }
        _ => return Error::Tls(format!("{failed}: {tls_err}")),
    };
    Error::Tls(format!("{failed}: {tls_err}; {hint}"))
}

/// The rustls error inside an I/O error from tokio-rustls, if there is one.
fn rustls_error(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}

// === impl ServerTls ===

/// The server's certificate chain and private key, ready to serve tunnels over TLS and
/// visitors over HTTPS.
///
/// Cheap to clone. `Debug` shows where the certificate came from, never the key.
#[derive(Clone)]
pub struct ServerTls {
    origin: Arc<str>,
    chain_len: usize,
    tunnel: Arc<ServerConfig>,
    https: Arc<ServerConfig>,
}

impl ServerTls {
    /// Builds from a PEM certificate chain (the server's certificate first, then any
    /// intermediates) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        Self::from_pem_named(
            cert_chain_pem,
            key_pem,
            "the certificate PEM",
            "the private key PEM",
        )
    }

    /// Builds from a PEM certificate chain file and a PEM private key file, as
    /// [`ServerTls::from_pem`] does; errors name the file at fault.
    pub fn from_pem_files(cert_path: impl AsRef<Path>, key_path: impl AsRef<Path>) -> Result<Self> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|err| {
                Error::Tls(format!(
                    "cannot read the TLS {what} {}: {err}",
                    path.display()
                ))
            })
        };
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        let cert_pem = read(cert_path, "certificate file")?;
        let key_pem = read(key_path, "private key file")?;
        Self::from_pem_named(
            &cert_pem,
            &key_pem,
            &cert_path.display().to_string(),
            &key_path.display().to_string(),
        )
    }

    fn from_pem_named(
        cert_chain_pem: &[u8],
        key_pem: &[u8],
        cert_origin: &str,
        key_origin: &str,
    ) -> Result<Self> {
        let chain = parse_certificates(cert_chain_pem, cert_origin)?;
        if chain.is_empty() {
            let swapped = PrivateKeyDer::from_pem_slice(cert_chain_pem).is_ok();
            return Err(Error::Tls(format!(
                "no certificate found in {cert_origin}; expected PEM -----BEGIN CERTIFICATE----- \
                 blocks, the server's certificate first{}",
                if swapped {
                    " (it holds a private key: are the certificate and key swapped?)"
                } else {
                    ""
                }
            )));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| {
            let found = match err {
                rustls::pki_types::pem::Error::NoItemsFound => "no private key found".to_owned(),
                other => format!("no usable private key found ({other})"),
            };
            Error::Tls(format!(
                "{found} in {key_origin}; expected a PEM -----BEGIN PRIVATE KEY----- \
                 (or RSA / EC PRIVATE KEY) block"
            ))
        })?;
        let provider = ring();
        let signing_key = provider.key_provider.load_private_key(key).map_err(|err| {
            Error::Tls(format!(
                "the private key in {key_origin} cannot be used: {err}"
            ))
        })?;
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(Error::Tls(format!(
                    "the private key in {key_origin} does not match the certificate in \
                     {cert_origin}; use the key the certificate was issued for"
                )));
            }
            Err(err) => {
                return Err(Error::Tls(format!(
                    "the first certificate in {cert_origin} cannot be used: {err}"
                )));
            }
        }
        let chain_len = certified.cert.len();
        let resolver = Arc::new(SingleCertAndKey::from(certified));
        let config = |versions| {
            ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .expect("the ring provider supports TLS 1.2 and 1.3")
                .with_no_client_auth()
                .with_cert_resolver(resolver.clone())
        };
        let tunnel = config(TUNNEL_VERSIONS);
        let mut https = config(HTTPS_VERSIONS);
        https.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            origin: cert_origin.into(),
            chain_len,
            tunnel: Arc::new(tunnel),
            https: Arc::new(https),
        })
    }

    /// The acceptor for client sessions on the control port (`tls://`): TLS 1.3 only.
    pub fn tunnel_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor {
            inner: tokio_rustls::TlsAcceptor::from(self.tunnel.clone()),
            side: Side::Tunnel,
        }
    }

    /// The acceptor for an HTTPS ingress serving visitors (and `wss://` clients), with
    /// [`ServerTls::https_config`]: TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`.
    ///
    /// The [`BoxIo`] it yields hides the negotiated ALPN protocol, so serve it with a server
    /// that detects HTTP/2 by its preface (hyper-util's `auto::Builder` does). The server's own
    /// HTTPS ingress reads the ALPN protocol instead, to skip that detection.
    pub fn https_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor {
            inner: tokio_rustls::TlsAcceptor::from(self.https.clone()),
            side: Side::Https,
        }
    }

    /// The rustls configuration behind [`ServerTls::https_acceptor`], for an HTTPS ingress
    /// built by hand: TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`.
    ///
    /// Wrap it with `tokio_rustls::TlsAcceptor::from(config)`, run the handshake under a
    /// timeout, then serve the stream with hyper; `get_ref().1.alpn_protocol()` tells whether
    /// the visitor chose `h2`.
    pub fn https_config(&self) -> Arc<ServerConfig> {
        self.https.clone()
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificate", &self.origin)
            .field("chain_len", &self.chain_len)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn parse_certificates(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| Error::Tls(format!("{origin} is not valid PEM: {err}")))
}

// === impl TlsAcceptor ===

/// Runs the server's TLS handshake on accepted connections: client sessions over TLS 1.3 on
/// the control port ([`ServerTls::tunnel_acceptor`]), or visitors on an HTTPS ingress
/// ([`ServerTls::https_acceptor`]).
///
/// The handshake itself has no timeout: the caller bounds [`Acceptor::accept`], as the server's
/// control port does with its handshake timeout.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: tokio_rustls::TlsAcceptor,
    side: Side,
}

/// Who connects to a [`TlsAcceptor`], for its error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// FerroTunnel clients, on the control port.
    Tunnel,
    /// Visitors' browsers (and `wss://` clients), on the HTTPS ingress.
    Https,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Runs the handshake on one accepted connection, keeping the TLS stream's type so that
    /// the caller can read what was negotiated (the HTTPS ingress reads the ALPN protocol).
    pub(crate) async fn handshake(
        self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::server::TlsStream<TcpStream>> {
        // Control frames and small responses must not wait for Nagle's algorithm.
        tcp.set_nodelay(true)?;
        let peer = tcp
            .peer_addr()
            .map_or_else(|_| "a client".to_owned(), |addr| addr.to_string());
        self.inner
            .accept(tcp)
            .await
            .map_err(|err| server_handshake_error(&err, &peer, self.side))
    }
}

impl Acceptor for TlsAcceptor {
    fn accept(&self, tcp: TcpStream) -> BoxFuture<Result<BoxIo>> {
        let this = self.clone();
        Box::pin(async move { Ok(Box::new(this.handshake(tcp).await?) as BoxIo) })
    }

    fn transport(&self) -> Transport {
        Transport::Tls
    }
}

fn server_handshake_error(err: &io::Error, peer: &str, side: Side) -> Error {
    let failed = format!("TLS handshake with {peer} failed");
    let Some(tls_err) = rustls_error(err) else {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return Error::Tls(format!(
                "{failed}: the peer closed the connection before the handshake completed"
            ));
        }
        return Error::Tls(format!("{failed}: {err}"));
    };
    let hint = match (tls_err, side) {
        (
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. },
            Side::Tunnel,
        ) => "the client did not start a TLS handshake; it must connect with tls://, not tcp://",
        (
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. },
            Side::Https,
        ) => "the visitor did not start a TLS handshake; plain HTTP belongs on the HTTP port",
        (rustls::Error::PeerIncompatible(_), Side::Tunnel) => {
            "the client does not offer TLS 1.3, which FerroTunnel tunnels require"
        }
        (
            rustls::Error::AlertReceived(
                AlertDescription::UnknownCA
                | AlertDescription::BadCertificate
                | AlertDescription::CertificateUnknown,
            ),
            _,
        ) => "the peer does not trust this server's certificate (a client needs its CA with --ca)",
        _ => return Error::Tls(format!("{failed}: {tls_err}")),
    };
    Error::Tls(format!("{failed}: {tls_err}; {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_hangs_up_during_the_handshake_gets_the_plain_scheme_of_its_kind() {
        let tls = ClientTls::platform();
        let eof = || io::Error::from(io::ErrorKind::UnexpectedEof);
        let tunnel = client_handshake_error(&eof(), "example.com", 7000, &tls, Purpose::Tunnel);
        assert!(
            tunnel
                .to_string()
                .ends_with("(a plain FerroTunnel port needs tcp://)")
        );
        let ws = client_handshake_error(&eof(), "example.com", 443, &tls, Purpose::WebSocket);
        assert!(
            ws.to_string().ends_with("(a plain HTTP port needs ws://)"),
            "{ws}"
        );
    }
}
