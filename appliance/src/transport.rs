//! How the appliance reaches the portal: which certificate authorities it trusts (the public
//! web roots plus, with `--ca-file`, a company's own) and whether it goes through an HTTP proxy
//! (`HTTPS_PROXY` for an https portal, `HTTP_PROXY` for a plain one, unless `NO_PROXY` names
//! the portal's host). Registration and the WebSocket use the same rules.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

#[derive(Clone)]
pub struct Transport {
    tls: Arc<rustls::ClientConfig>,
    proxies: Proxies,
}

impl Transport {
    /// Trusts the public web roots, plus every certificate in the PEM file `ca_file`.
    pub fn new(ca_file: Option<&Path>, proxies: Proxies) -> Result<Transport, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let added = add_pem_certificates(&mut roots, path)?;
            tracing::info!(ca_file = %path.display(), certificates = added, "trusting extra certificate authorities");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Transport {
            tls: Arc::new(tls),
            proxies,
        })
    }

    /// The HTTP client for registration: the same trust and proxy as the WebSocket.
    pub fn http_client(&self, portal: &str) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls((*self.tls).clone())
            .no_proxy();
        if let Some(proxy) = self.proxies.for_url(portal)? {
            let mut via =
                reqwest::Proxy::all(proxy.url.as_str()).map_err(|e| format!("proxy {}: {e}", proxy.url))?;
            if let Some(credentials) = &proxy.basic_credentials {
                via = via.custom_http_auth(
                    format!("Basic {credentials}")
                        .parse()
                        .map_err(|_| "proxy credentials are not a valid header".to_string())?,
                );
            }
            builder = builder.proxy(via);
        }
        builder.build().map_err(|e| format!("HTTP client: {e}"))
    }

    /// Opens the WebSocket at `url` (ws:// or wss://), through the proxy when one applies.
    pub async fn websocket(
        &self,
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, String> {
        let url = request.uri().to_string();
        let host = request.uri().host().unwrap_or_default().to_owned();
        let secure = request.uri().scheme_str() == Some("wss");
        let port = request.uri().port_u16().unwrap_or(if secure { 443 } else { 80 });
        let stream = match self.proxies.for_url(&url)? {
            Some(proxy) => proxy.tunnel(&host, port).await?,
            None => TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| format!("cannot reach {host}:{port}: {e}"))?,
        };
        let connector = Connector::Rustls(self.tls.clone());
        let (socket, _) =
            tokio_tungstenite::client_async_tls_with_config(request, stream, None, Some(connector))
                .await
                .map_err(|e| e.to_string())?;
        Ok(socket)
    }
}

fn add_pem_certificates(roots: &mut rustls::RootCertStore, path: &Path) -> Result<usize, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--ca-file {}: not a PEM certificate file: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("--ca-file {}: holds no PEM certificate", path.display()));
    }
    let (added, _ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!(
            "--ca-file {}: no usable certificate in it",
            path.display()
        ));
    }
    Ok(added)
}

/// The proxy settings of the environment, read once at start.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    pub https: Option<String>,
    pub http: Option<String>,
    pub no_proxy: Vec<String>,
}

impl Proxies {
    /// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, upper or lower case, as curl reads them.
    pub fn from_env() -> Proxies {
        let read = |name: &str| {
            std::env::var(name.to_lowercase())
                .or_else(|_| std::env::var(name))
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        Proxies {
            https: read("HTTPS_PROXY"),
            http: read("HTTP_PROXY"),
            no_proxy: read("NO_PROXY")
                .map(|list| {
                    list.split(',')
                        .map(|entry| entry.trim().to_lowercase())
                        .filter(|e| !e.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The proxy to use for `url`, if any.
    fn for_url(&self, url: &str) -> Result<Option<Proxy>, String> {
        let target = reqwest::Url::parse(url).map_err(|e| format!("bad portal URL {url}: {e}"))?;
        let host = target.host_str().unwrap_or_default().to_lowercase();
        if self.bypasses(&host) {
            return Ok(None);
        }
        let chosen = match target.scheme() {
            "https" | "wss" => &self.https,
            _ => &self.http,
        };
        chosen.as_deref().map(Proxy::parse).transpose()
    }

    /// `NO_PROXY` entries: `*`, a host, or a domain (with or without a leading dot) whose
    /// subdomains are bypassed too.
    fn bypasses(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.no_proxy.iter().any(|entry| {
            let entry = entry.trim_start_matches('.');
            entry == "*" || host == entry || host.ends_with(&format!(".{entry}"))
        })
    }
}

/// An HTTP proxy that tunnels with `CONNECT`.
#[derive(Debug, Clone, PartialEq)]
struct Proxy {
    url: reqwest::Url,
    address: String,
    basic_credentials: Option<String>,
}

impl Proxy {
    fn parse(value: &str) -> Result<Proxy, String> {
        let with_scheme = if value.contains("://") {
            value.to_owned()
        } else {
            format!("http://{value}")
        };
        let url = reqwest::Url::parse(&with_scheme).map_err(|e| format!("proxy {value}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!("proxy {value}: only http:// proxies are supported"));
        }
        let host = url.host_str().ok_or_else(|| format!("proxy {value}: no host"))?;
        let address = format!("{host}:{}", url.port_or_known_default().unwrap_or(80));
        let basic_credentials = (!url.username().is_empty()).then(|| {
            let user = percent_decode(url.username());
            let password = percent_decode(url.password().unwrap_or_default());
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        });
        let mut bare = url.clone();
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        Ok(Proxy {
            url: bare,
            address,
            basic_credentials,
        })
    }

    /// A TCP stream to `host:port` through the proxy: `CONNECT`, then the proxy's answer.
    async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, String> {
        let mut stream = TcpStream::connect(&self.address)
            .await
            .map_err(|e| format!("cannot reach the proxy {}: {e}", self.address))?;
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(credentials) = &self.basic_credentials {
            request.push_str(&format!("Proxy-Authorization: Basic {credentials}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("proxy {}: {e}", self.address))?;
        let head = read_response_head(&mut stream)
            .await
            .map_err(|e| format!("proxy {}: {e}", self.address))?;
        let status_line = head.lines().next().unwrap_or_default();
        let status = status_line.split_whitespace().nth(1).unwrap_or_default();
        if status == "200" {
            Ok(stream)
        } else {
            Err(format!(
                "the proxy {} refused to connect to {authority}: {status_line}",
                self.address
            ))
        }
    }
}

/// Reads up to the blank line ending a response's headers, and not one byte more: what follows
/// belongs to the tunnelled connection.
async fn read_response_head(stream: &mut TcpStream) -> Result<String, String> {
    const LIMIT: usize = 16 * 1024;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= LIMIT {
            return Err("answer headers too long".into());
        }
        match stream.read(&mut byte).await {
            Ok(0) => return Err("closed the connection".into()),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(https: Option<&str>, http: Option<&str>, no_proxy: &[&str]) -> Proxies {
        Proxies {
            https: https.map(str::to_owned),
            http: http.map(str::to_owned),
            no_proxy: no_proxy.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_scheme_of_the_portal_chooses_the_proxy() {
        let set = proxies(Some("http://secure-proxy:3128"), Some("plain-proxy:8080"), &[]);
        let https = set.for_url("https://backup.example.com").unwrap().unwrap();
        assert_eq!(https.address, "secure-proxy:3128");
        let wss = set
            .for_url("wss://backup.example.com/appliance/connect")
            .unwrap()
            .unwrap();
        assert_eq!(wss.address, "secure-proxy:3128");
        let ws = set
            .for_url("ws://backup.example.com/appliance/connect")
            .unwrap()
            .unwrap();
        assert_eq!(
            ws.address, "plain-proxy:8080",
            "a proxy without a scheme is http://"
        );
        assert!(
            proxies(None, None, &[])
                .for_url("https://backup.example.com")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn no_proxy_names_hosts_and_domains() {
        let set = proxies(
            Some("http://proxy:3128"),
            None,
            &["localhost", ".internal.example", "10.0.0.5"],
        );
        assert!(set.for_url("https://localhost:3000").unwrap().is_none());
        assert!(set.for_url("https://portal.internal.example").unwrap().is_none());
        assert!(set.for_url("https://internal.example").unwrap().is_none());
        assert!(set.for_url("https://10.0.0.5").unwrap().is_none());
        assert!(set.for_url("https://notinternal.example").unwrap().is_some());
        assert!(
            proxies(Some("http://proxy:3128"), None, &["*"])
                .for_url("https://a.example")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn credentials_in_the_proxy_url_become_basic_auth_and_leave_the_url() {
        let proxy = Proxy::parse("http://msp%40tech:p%3Ass@proxy.example:3128").unwrap();
        assert_eq!(proxy.address, "proxy.example:3128");
        assert_eq!(
            proxy.basic_credentials.as_deref(),
            Some("bXNwQHRlY2g6cDpzcw=="),
            "msp@tech:p:ss"
        );
        assert!(!proxy.url.as_str().contains("tech"), "{}", proxy.url);
        assert!(
            Proxy::parse("socks5://proxy:1080")
                .unwrap_err()
                .contains("only http://")
        );
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("bp-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = Transport::new(Some(&empty), Proxies::default()).err().unwrap();
        assert!(error.contains("holds no PEM certificate"), "{error}");
        let missing = Transport::new(Some(&dir.join("missing.pem")), Proxies::default())
            .err()
            .unwrap();
        assert!(missing.contains("missing.pem"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
