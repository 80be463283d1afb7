//! go-plugin's AutoMTLS, both halves: each side makes a fresh self-signed
//! certificate and pins the other's.
//!
//! 1. The host makes its certificate and passes it (PEM) to the plugin in
//!    [`ENV_CLIENT_CERT`].
//! 2. The plugin makes its own, serves TLS requiring the host's certificate
//!    from its clients, and prints its certificate (DER, base64 without
//!    padding) as the handshake line's sixth field.
//! 3. The host connects with TLS, presenting its certificate and accepting
//!    only the plugin's. The host's broker server (callbacks) and the
//!    plugin's broker dials are the same, the other way round.
//!
//! Certificates are as go-plugin makes them: subject and DNS name
//! `localhost`, client and server use, self-signed. Verification is by
//! pinning: the peer must present exactly the certificate it announced and
//! prove it holds its key (the TLS handshake signature, checked with the
//! provider's algorithms, P-521 included, which go-plugin's Go side uses).
//! Names and chains are not used: a pinned certificate needs neither.
//! Both sides offer ALPN `h2` (grpc-go requires it).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, Error as TlsError,
    ServerConfig, SignatureScheme,
};

/// The variable carrying the host's certificate (PEM) to the plugin.
pub const ENV_CLIENT_CERT: &str = "PLUGIN_CLIENT_CERT";
/// The name both certificates carry, and the name the client asks for.
pub const SERVER_NAME: &str = "localhost";

/// Why a certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum MtlsError {
    /// Making the key pair or the certificate failed.
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The peer's certificate is not readable.
    #[error("the {what} is not a certificate: {reason}")]
    BadPeer {
        /// `handshake's certificate field` or `PLUGIN_CLIENT_CERT`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] TlsError),
}

/// One side's fresh certificate and key.
#[derive(Debug)]
pub struct Identity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    pem: String,
}

impl Identity {
    /// A fresh ECDSA P-256 key and a self-signed certificate for
    /// `localhost`, for client and server use.
    pub fn generate() -> Result<Self, MtlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![SERVER_NAME.to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAME);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "flowbot plugin");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            pem: cert.pem(),
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// The certificate, PEM: the value of [`ENV_CLIENT_CERT`].
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// The certificate as the handshake's sixth field: DER, base64 without
    /// padding.
    pub fn handshake_field(&self) -> String {
        STANDARD_NO_PAD.encode(self.cert.as_ref())
    }

    /// The certificate, DER.
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// A client configuration presenting this identity and accepting only
    /// `peer`.
    pub fn client_config(&self, peer: CertificateDer<'static>) -> Result<ClientConfig, MtlsError> {
        let provider = provider();
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned::new(peer, &provider)))
            .with_client_auth_cert(vec![self.cert.clone()], self.private_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }

    /// A server configuration presenting this identity and requiring the
    /// client to present `peer`.
    pub fn server_config(&self, peer: CertificateDer<'static>) -> Result<ServerConfig, MtlsError> {
        let provider = provider();
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(Pinned::new(peer, &provider)))
            .with_single_cert(vec![self.cert.clone()], self.private_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }

    fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

/// The peer certificate in a handshake's sixth field (DER, base64 with or
/// without padding).
pub fn cert_from_field(field: &str) -> Result<CertificateDer<'static>, MtlsError> {
    let field = field.trim().trim_end_matches('=');
    let der = STANDARD_NO_PAD
        .decode(field)
        .map_err(|e| MtlsError::BadPeer {
            what: "handshake's certificate field",
            reason: e.to_string(),
        })?;
    Ok(CertificateDer::from(der))
}

/// The host certificate in [`ENV_CLIENT_CERT`] (PEM).
pub fn cert_from_pem(pem: &str) -> Result<CertificateDer<'static>, MtlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| MtlsError::BadPeer {
        what: ENV_CLIENT_CERT,
        reason: e.to_string(),
    })
}

/// The crypto this crate's TLS uses: aws-lc-rs, which verifies the P-521
/// signatures go-plugin's Go side makes.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Accepts exactly one certificate, whose holder must sign the handshake.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Pinned {
    fn new(cert: CertificateDer<'static>, provider: &CryptoProvider) -> Self {
        Self {
            cert,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn check(&self, presented: &CertificateDer<'_>) -> Result<(), TlsError> {
        if presented.as_ref() == self.cert.as_ref() {
            Ok(())
        } else {
            Err(TlsError::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(NotPinned)),
            )))
        }
    }
}

/// The error a certificate other than the pinned one gets.
#[derive(thiserror::Error)]
#[error("the certificate presented is not the one announced (AutoMTLS pins it)")]
struct NotPinned;

/// rustls shows this error with `Debug`: the sentence, then.
impl std::fmt::Debug for NotPinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        self.check(end_entity)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        self.check(end_entity)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server name a client asks for.
pub(crate) fn server_name() -> ServerName<'static> {
    ServerName::DnsName(
        rustls::pki_types::DnsName::try_from(SERVER_NAME).unwrap_or_else(|_| unreachable!()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_travels_as_go_plugin_sends_it() {
        let id = Identity::generate().unwrap();
        let field = id.handshake_field();
        assert!(!field.contains('=') && !field.contains('\n') && field.len() > 50);
        assert_eq!(&cert_from_field(&field).unwrap(), id.cert());
        assert_eq!(&cert_from_pem(id.cert_pem()).unwrap(), id.cert());
        assert!(cert_from_field("not base64!").is_err());
        assert!(cert_from_pem("junk").is_err());
    }
}
