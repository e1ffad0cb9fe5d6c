//! TLS to PostgreSQL (rustls with ring), following libpq's `sslmode`:
//!
//! - `disable`: plain TCP.
//! - `prefer` (the default): TLS if the server offers it, the certificate
//!   not verified; plain TCP if the server has no TLS.
//! - `require`: TLS or no connection; the certificate is not verified
//!   (unless `sslrootcert=` names a file: then as `verify-ca`, like libpq).
//! - `verify-ca`: TLS, the server's certificate must chain to a trusted
//!   root; the host name is not checked.
//! - `verify-full`: as `verify-ca`, and the certificate must name the host
//!   (DNS name or IP address) the connection string connects to.
//!
//! Trusted roots: the PEM file `sslrootcert=/path/root.crt`, or the system
//! store (`sslrootcert=system` or no `sslrootcert`). A client certificate,
//! for servers that ask for one (`clientcert=verify-ca|verify-full` or the
//! `cert` method in `pg_hba.conf`): `sslcert=/path/client.crt` (PEM, the
//! chain) with `sslkey=/path/client.key` (PEM, PKCS#8, PKCS#1 or SEC1),
//! as libpq names them. The `postgres` crate knows only
//! disable/prefer/require and none of these files, so [`split`] takes them
//! out of the URL before it is parsed.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode the `postgres` client is given (it only decides whether
    /// TLS is tried and whether it is required; verification is ours).
    pub fn client_mode(self) -> postgres::config::SslMode {
        match self {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        }
    }

    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// TLS settings taken out of a connection URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// `sslrootcert=`: a PEM file, or `system`.
    pub rootcert: Option<String>,
    /// `sslcert=` and `sslkey=`: the client's certificate chain and key.
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// Splits `sslmode` and `sslrootcert` off a `postgres://` URL: the URL
/// without them (for the `postgres` crate) and the settings. Errors never
/// repeat the URL (it may hold a password).
pub fn split(url: &str) -> Result<(String, TlsSettings), StoreError> {
    let mut settings = TlsSettings {
        mode: SslMode::Prefer,
        rootcert: None,
        cert: None,
        key: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), settings));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                settings.mode = match decode(value).as_str() {
                    "disable" => SslMode::Disable,
                    // libpq's `allow` tries plain first; TLS when offered is
                    // at least as safe.
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(StoreError::Config(format!(
                            "bad --store connection string: sslmode={other} (use disable, \
                             prefer, require, verify-ca or verify-full)"
                        )));
                    }
                }
            }
            "sslrootcert" => settings.rootcert = Some(decode(value)),
            "sslcert" => settings.cert = Some(decode(value)),
            "sslkey" => settings.key = Some(decode(value)),
            _ => kept.push(pair),
        }
    }
    if settings.cert.is_some() != settings.key.is_some() {
        return Err(StoreError::Config(
            "bad --store connection string: sslcert= and sslkey= go together (the client \
             certificate and its private key)"
                .into(),
        ));
    }
    if settings.mode == SslMode::Require
        && settings.rootcert.as_deref().is_some_and(|r| r != "system")
    {
        settings.mode = SslMode::VerifyCa;
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, settings))
}

/// Percent-decoding of a query value (`%2F` and `+` as in URLs).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The connector the pool hands to every connection. With `disable` it is
/// never used (the client does not ask for TLS).
pub fn connector(settings: &TlsSettings) -> Result<MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if settings.mode.verifies() {
        let roots = Arc::new(roots(settings.rootcert.as_deref())?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| StoreError::Config(format!("sslrootcert: {e}")))?;
        if settings.mode == SslMode::VerifyFull {
            webpki
        } else {
            Arc::new(AnyName(webpki))
        }
    } else {
        Arc::new(NoVerify(provider.signature_verification_algorithms))
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(pem_certs("sslcert", cert)?, client_key(key)?)
            .map_err(|e| StoreError::Config(format!("sslcert={cert} with sslkey={key}: {e}")))?,
        _ => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of the PEM file `path`, named in errors as `param=`
/// (`sslcert`, `sslrootcert`); at least one.
fn pem_certs(param: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let bad =
        |e: &dyn std::fmt::Display| StoreError::Config(format!("cannot read {param}={path}: {e}"));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The client's private key (`sslkey=`).
fn client_key(path: &str) -> Result<PrivateKeyDer<'static>, StoreError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        StoreError::Config(format!(
            "cannot read sslkey={path}: {e} (a PEM private key: PKCS#8, PKCS#1 or SEC1)"
        ))
    })
}

/// The trusted roots: a PEM file, or the system store.
fn roots(rootcert: Option<&str>) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    match rootcert {
        Some(path) if path != "system" => {
            for c in pem_certs("sslrootcert", path)? {
                store.add(c).map_err(|e| {
                    StoreError::Config(format!("cannot read sslrootcert={path}: {e}"))
                })?;
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(StoreError::Config(
                    "sslmode=verify-*: no system root certificates found; name the \
                     server's root with sslrootcert=/path/root.crt"
                        .into(),
                ));
            }
        }
    }
    Ok(store)
}

/// `verify-ca`: the chain must be valid; a name mismatch is accepted.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // Reported only after the chain verified.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require`: encrypted, the certificate not checked (the
/// handshake signature still is, so the session key belongs to the
/// certificate presented).
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_takes_out_tls_settings() {
        let (url, s) = split("postgres://u:p@h:5/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fr.crt&application_name=x").unwrap();
        assert_eq!(url, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.rootcert.as_deref(), Some("/tmp/r.crt"));
        let (url, s) = split("postgres://u@h/db").unwrap();
        assert_eq!(
            (url.as_str(), s.mode),
            ("postgres://u@h/db", SslMode::Prefer)
        );
        let (_, s) = split("postgres://u@h/db?sslmode=require&sslrootcert=/r.crt").unwrap();
        assert_eq!(s.mode, SslMode::VerifyCa);
        let (url, s) = split("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(
            (url.as_str(), s.mode),
            ("postgres://u@h/db", SslMode::Disable)
        );
        let e = split("postgres://u:secret@h/db?sslmode=bogus").unwrap_err();
        assert!(!format!("{e:?}").contains("secret"));
        let (url, s) =
            split("postgres://u@h/db?sslcert=%2Fc%2Fclient.crt&sslkey=/c/client.key&x=1").unwrap();
        assert_eq!(url, "postgres://u@h/db?x=1");
        assert_eq!(
            (s.cert.as_deref(), s.key.as_deref()),
            (Some("/c/client.crt"), Some("/c/client.key"))
        );
        let e = split("postgres://u:secret@h/db?sslcert=/c.crt").unwrap_err();
        assert!(format!("{e}").contains("sslkey"), "{e}");
        assert!(!format!("{e:?}").contains("secret"));
    }

    #[test]
    fn decode_handles_bad_escapes() {
        assert_eq!(decode("a%2Fb"), "a/b");
        assert_eq!(decode("a%"), "a%");
        assert_eq!(decode("a%zz"), "a%zz");
    }
}
