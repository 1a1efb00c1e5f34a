//! https for checks and the webhook: a real agent checks a local https
//! server whose certificate a private CA signed, and posts its events
//! there. Trusting the CA through `ca_file` and `webhook_ca_file` works; a
//! check that trusts only the system's store fails on the same server, so
//! the certificate is really verified.

#![allow(clippy::disallowed_methods)] // tests live in real time

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use support::{Agent, log_dir, wait_until};

/// A CA, and a certificate for `localhost` it signed: PEM of the CA, then
/// the server's certificate chain and key for rustls.
fn private_ca() -> (
    String,
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&server_key, &ca)
        .expect("server certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    (ca.pem(), vec![server.der().clone(), ca.der().clone()], key)
}

/// The first line and body of each request the server saw.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Serves https on a loopback port: answers every request 200 and keeps
/// each request's first line and body.
fn serve_https(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> (SocketAddr, Seen) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            let kept = kept.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut reader = BufReader::new(&mut tls);
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() || first.is_empty() {
                    return; // a failed handshake: the client refused us
                }
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                kept.lock().expect("requests").push((
                    first.trim().to_owned(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (addr, seen)
}

fn check_of(agent: &Agent, name: &str) -> Option<(String, String)> {
    let member = agent.member("a")?;
    member["checks"].as_array()?.iter().find_map(|check| {
        (check["name"] == name).then(|| {
            (
                check["status"].as_str().unwrap_or("").to_owned(),
                check["output"].as_str().unwrap_or("").to_owned(),
            )
        })
    })
}

#[test]
fn https_checks_and_the_webhook_verify_the_server_against_the_configured_ca() {
    if !cfg!(feature = "tls") {
        eprintln!("SKIP: built without the `tls` feature");
        return;
    }
    let dir = log_dir("tls");
    let (ca_pem, chain, key) = private_ca();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write the CA");
    let (server, seen) = serve_https(chain, key);
    let port = server.port();
    let config = dir.join("a.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[check]]
name = "private-ca"
http = "https://localhost:{port}/healthz"
ca_file = "{ca}"
interval = "300ms"
timeout = "300ms"
rise = 1

[[check]]
name = "system-store"
http = "https://localhost:{port}/healthz"
interval = "300ms"
timeout = "300ms"
fall = 1

[hooks]
webhook = "https://localhost:{port}/events"
webhook_ca_file = "{ca}"
"#,
            ca = ca_file.display()
        ),
    )
    .expect("write the config");
    let config = config.to_string_lossy().into_owned();
    let a = Agent::start(&dir, "a", &[], &["--config", &config]);

    let verified = wait_until(Duration::from_secs(15), || {
        check_of(&a, "private-ca").is_some_and(|(status, _)| status == "passing")
            && check_of(&a, "system-store").is_some_and(|(status, _)| status == "failing")
            && seen
                .lock()
                .expect("requests")
                .iter()
                .any(|(line, _)| line.starts_with("POST /events"))
    });
    let requests = seen.lock().expect("requests").clone();
    assert!(
        verified,
        "private-ca: {:?}, system-store: {:?}, requests: {requests:?}\n{}",
        check_of(&a, "private-ca"),
        check_of(&a, "system-store"),
        a.log_tail(40)
    );
    let (_, output) = check_of(&a, "system-store").expect("the check");
    eprintln!(
        "private-ca: {:?}; system-store: {output}",
        check_of(&a, "private-ca")
    );
    assert!(
        output.to_lowercase().contains("certificate") || output.contains("UnknownIssuer"),
        "the system store refused for another reason: {output}"
    );
    let (_, event) = requests
        .iter()
        .find(|(line, _)| line.starts_with("POST /events"))
        .expect("a webhook request");
    let event: serde_json::Value = serde_json::from_str(event).expect("the event is JSON");
    assert_eq!(event["node"], "a", "{event}");
    assert!(
        requests
            .iter()
            .any(|(line, _)| line.starts_with("GET /healthz")),
        "{requests:?}"
    );
}
