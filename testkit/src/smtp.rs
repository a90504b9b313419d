//! A real SMTP listener on loopback.

use std::net::SocketAddr;

/// A mail a [`SmtpSink`] accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub auth: bool,
    /// Whether the mail travelled over TLS.
    pub secure: bool,
}

/// How the [`SmtpSink`] speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    Plain,
    /// Offers STARTTLS and requires it before MAIL.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

/// A real SMTP listener on loopback (AUTH, optional STARTTLS or implicit TLS with a
/// self-signed certificate for `localhost`) that keeps what it receives.
pub struct SmtpSink {
    pub addr: SocketAddr,
    /// The sink's certificate (PEM), for the client to trust.
    pub cert_pem: String,
    mails: std::sync::Arc<std::sync::Mutex<Vec<Mail>>>,
    reject: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A plain or TLS connection, boxed so a session can continue over its own upgrade.
pub trait SmtpIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> SmtpIo for T {}

async fn smtp_session(
    stream: Box<dyn SmtpIo>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    secure: bool,
    mails: std::sync::Arc<std::sync::Mutex<Vec<Mail>>>,
    reject: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    // The greeting is sent by the caller; after STARTTLS the client says EHLO again.
    let mut io = BufReader::new(stream);
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        match io.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let l = line.trim_end().to_string();
        let upper = l.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            if tls.is_some() && !secure {
                "250-sink\r\n250-STARTTLS\r\n250 8BITMIME\r\n".into()
            } else {
                "250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n".into()
            }
        } else if upper.starts_with("STARTTLS") && tls.is_some() && !secure {
            if io
                .get_mut()
                .write_all(b"220 2.0.0 ready to start TLS\r\n")
                .await
                .is_err()
            {
                return;
            }
            let acceptor = tls.clone().unwrap();
            let Ok(upgraded) = acceptor.accept(io.into_inner()).await else {
                return;
            };
            Box::pin(smtp_session(Box::new(upgraded), tls, true, mails, reject)).await;
            return;
        } else if upper.starts_with("HELO")
            || upper.starts_with("NOOP")
            || upper.starts_with("RSET")
        {
            "250 ok\r\n".into()
        } else if upper.starts_with("AUTH") {
            mail.auth = true;
            "235 2.7.0 Authentication successful\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            if tls.is_some() && !secure {
                "530 5.7.0 Must issue a STARTTLS command first\r\n".into()
            } else {
                mail.from = l[10..].trim().trim_matches(['<', '>']).to_string();
                mail.secure = secure;
                "250 2.1.0 ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            if reject.load(std::sync::atomic::Ordering::SeqCst) {
                "550 5.1.1 No such user\r\n".into()
            } else {
                mail.to
                    .push(l[8..].trim().trim_matches(['<', '>']).to_string());
                "250 2.1.5 ok\r\n".into()
            }
        } else if upper == "DATA" {
            if io
                .get_mut()
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                let mut d = String::new();
                match io.read_line(&mut d).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let d = d.trim_end_matches(['\r', '\n']);
                if d == "." {
                    break;
                }
                data.push_str(d.strip_prefix('.').unwrap_or(d));
                data.push('\n');
            }
            mail.data = data;
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            "250 2.0.0 Ok: queued as SINK1\r\n".into()
        } else if upper.starts_with("QUIT") {
            let _ = io.get_mut().write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 command not recognized\r\n".into()
        };
        if io.get_mut().write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_with(SmtpTls::Plain).await
    }

    pub async fn start_with(mode: SmtpTls) -> SmtpSink {
        use tokio::io::AsyncWriteExt;
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert_pem = ck.cert.pem();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let cfg = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reject = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (m, rj) = (mails.clone(), reject.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (m, rj, acceptor) = (m.clone(), rj.clone(), acceptor.clone());
                tokio::spawn(async move {
                    match mode {
                        SmtpTls::Implicit => {
                            let Ok(mut tls) = acceptor.accept(sock).await else {
                                return;
                            };
                            if tls.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
                                return;
                            }
                            smtp_session(Box::new(tls), Some(acceptor), true, m, rj).await;
                        }
                        SmtpTls::Starttls | SmtpTls::Plain => {
                            let mut sock = sock;
                            if sock.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
                                return;
                            }
                            let tls = (mode == SmtpTls::Starttls).then_some(acceptor);
                            smtp_session(Box::new(sock), tls, false, m, rj).await;
                        }
                    }
                });
            }
        });
        SmtpSink {
            addr,
            cert_pem,
            mails,
            reject,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub fn reject_recipients(&self, on: bool) {
        self.reject.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}
