//! Pins what every HTTP route answers, byte for byte, for hand-built
//! snapshots: the JSON API is a contract with load balancers, scripts and
//! `herd status`, so a change to it (a field renamed in the core, a key
//! reordered) must fail here rather than reach them silently.
//!
//! The routers run on a loopback listener and are asked over plain
//! HTTP/1.1, so what is pinned is what a client reads: status, content
//! type and body.

use std::net::SocketAddr;
use std::sync::Arc;

use herd::core::{
    CheckStatus, CheckSummary, Command, CommandError, HealthStatus, MemberInfo, MemberState,
    NodeStats, Phase, Snapshot,
};
use herd::http::command::Request;
use herd::http::{self, HttpState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

const ADMIN: &str = "127.0.0.1:7948";

fn member(name: &str, state: MemberState) -> MemberInfo {
    MemberInfo {
        name: name.into(),
        addr: SocketAddr::from(([10, 0, 0, 9], 7946)),
        state,
        health: None,
        draining: false,
        priority: 0,
        seniority: None,
        eligible: true,
        is_primary: false,
        incarnation: 1,
        local: false,
        term: 0,
        admitted: false,
        checks: Vec::new(),
    }
}

/// A three-member view from the primary, `a`: one member of each state,
/// each health and each check status.
fn primary() -> Snapshot {
    let a = MemberInfo {
        addr: SocketAddr::from(([10, 0, 0, 1], 7946)),
        health: Some(HealthStatus::Passing),
        priority: 10,
        seniority: Some(1),
        is_primary: true,
        incarnation: 1_700_000_000_000,
        local: true,
        term: 7,
        admitted: true,
        checks: vec![CheckSummary {
            name: "http http://127.0.0.1:8080/".into(),
            status: CheckStatus::Passing,
            output: "HTTP 200".into(),
        }],
        ..member("a", MemberState::Alive)
    };
    let b = MemberInfo {
        addr: SocketAddr::from(([10, 0, 0, 2], 7946)),
        health: Some(HealthStatus::Warning),
        draining: true,
        priority: 5,
        seniority: Some(2),
        eligible: false,
        term: 3,
        admitted: true,
        checks: vec![
            CheckSummary {
                name: "db".into(),
                status: CheckStatus::Warning,
                output: "slow \"replica\"".into(),
            },
            CheckSummary {
                name: "disk".into(),
                status: CheckStatus::Starting,
                output: String::new(),
            },
        ],
        ..member("b", MemberState::Suspect)
    };
    let c = MemberInfo {
        health: Some(HealthStatus::Failing),
        checks: vec![CheckSummary {
            name: "tcp 127.0.0.1:5432".into(),
            status: CheckStatus::Failing,
            output: "connection refused".into(),
        }],
        ..member("c", MemberState::Down)
    };
    Snapshot {
        name: "a".into(),
        addr: SocketAddr::from(([10, 0, 0, 1], 7946)),
        cluster: "prod".into(),
        incarnation: 1_700_000_000_000,
        phase: Phase::Joined,
        health: HealthStatus::Passing,
        draining: false,
        seniority: Some(1),
        priority: 10,
        primary: Some("a".into()),
        primary_term: Some(7),
        highest_term: 7,
        claim_until: None,
        lease_witnesses: Vec::new(),
        claiming: true,
        quorate: true,
        live: 2,
        alive: 1,
        expected: 3,
        members: vec![a, b, c, member("d", MemberState::Left)],
        stats: NodeStats::default(),
    }
}

/// `b`'s view of the same cluster: serving, not primary.
fn secondary() -> Snapshot {
    Snapshot {
        name: "b".into(),
        health: HealthStatus::Warning,
        seniority: Some(2),
        priority: 5,
        primary_term: Some(7),
        claiming: false,
        members: Vec::new(),
        ..primary()
    }
}

/// A node still joining, draining, knowing no primary.
fn joining() -> Snapshot {
    Snapshot {
        name: "e".into(),
        incarnation: 2,
        phase: Phase::Joining,
        health: HealthStatus::Failing,
        draining: true,
        seniority: None,
        priority: 0,
        primary: None,
        primary_term: None,
        highest_term: 0,
        claim_until: None,
        lease_witnesses: Vec::new(),
        claiming: false,
        quorate: false,
        live: 1,
        alive: 1,
        expected: 1,
        members: Vec::new(),
        ..primary()
    }
}

/// An answer as a client reads it.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: String,
}

fn json(status: u16, body: &str) -> Answer {
    Answer {
        status,
        content_type: Some("application/json".into()),
        body: body.into(),
    }
}

fn state(snapshot: Snapshot, requests: Option<mpsc::Sender<Request>>) -> HttpState {
    let (_, receiver) = watch::channel(Arc::new(snapshot));
    HttpState {
        snapshot: receiver,
        registry: prometheus::Registry::new(),
        requests,
        admin: ADMIN.parse().unwrap(),
        claim_deadline: None,
        events: herd::http::events::EventLog::default(),
        metrics: None,
        health_answers: herd::http::HealthAnswers::default(),
    }
}

/// Serves a listener's service (the health routes in front of the
/// router) on a loopback port until the test ends, as the agent does.
async fn serve(front: http::front::Front) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(http::serve::serve(
        listener,
        front,
        http::serve::Limits::default(),
        Arc::default(),
        std::future::pending(),
    ));
    addr
}

/// One HTTP/1.1 request on its own connection.
/// A request as `herd` sends it: a loopback `Host`, and the admin header.
async fn call(addr: SocketAddr, method: &str, path: &str) -> Answer {
    call_with(
        addr,
        method,
        path,
        "Host: 127.0.0.1:7948\r\nX-Herd-Admin: 1\r\n",
    )
    .await
}

/// A request with these header lines (each ending in CRLF).
async fn call_with(addr: SocketAddr, method: &str, path: &str, headers: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut content_type = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.trim().to_owned()),
            "transfer-encoding" => chunked = value.trim() == "chunked",
            _ => {}
        }
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Answer {
        status,
        content_type,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

const PRIMARY_HEALTH: &str = r#"{"node":"a","cluster":"prod","healthy":true,"health":"passing","phase":"joined","draining":false,"role":"primary","primary":"a"}"#;

#[tokio::test]
async fn the_read_routes_of_a_primary() {
    let addr = serve(http::public(state(primary(), None))).await;
    for route in ["/health", "/readyz", "/health/primary"] {
        assert_eq!(
            call(addr, "GET", route).await,
            json(200, PRIMARY_HEALTH),
            "{route}"
        );
    }
    assert_eq!(
        call(addr, "GET", "/health/secondary").await,
        json(503, PRIMARY_HEALTH)
    );
    assert_eq!(
        call(addr, "GET", "/livez").await,
        json(200, r#"{"node":"a","live":true}"#)
    );
    assert_eq!(
        call(addr, "GET", "/v1/members").await,
        json(
            200,
            concat!(
                r#"{"node":"a","cluster":"prod","members":["#,
                r#"{"name":"a","addr":"10.0.0.1:7946","state":"alive","health":"passing","draining":false,"priority":10,"seniority":1,"eligible":true,"primary":true,"incarnation":1700000000000,"local":true,"term":7,"admitted":true,"checks":[{"name":"http http://127.0.0.1:8080/","status":"passing","output":"HTTP 200"}]},"#,
                r#"{"name":"b","addr":"10.0.0.2:7946","state":"suspect","health":"warning","draining":true,"priority":5,"seniority":2,"eligible":false,"primary":false,"incarnation":1,"local":false,"term":3,"admitted":true,"checks":[{"name":"db","status":"warning","output":"slow \"replica\""},{"name":"disk","status":"starting","output":""}]},"#,
                r#"{"name":"c","addr":"10.0.0.9:7946","state":"down","health":"failing","draining":false,"priority":0,"seniority":null,"eligible":true,"primary":false,"incarnation":1,"local":false,"term":0,"admitted":false,"checks":[{"name":"tcp 127.0.0.1:5432","status":"failing","output":"connection refused"}]},"#,
                r#"{"name":"d","addr":"10.0.0.9:7946","state":"left","health":null,"draining":false,"priority":0,"seniority":null,"eligible":true,"primary":false,"incarnation":1,"local":false,"term":0,"admitted":false,"checks":[]}"#,
                r#"]}"#,
            )
        )
    );
    assert_eq!(
        call(addr, "GET", "/v1/primary").await,
        json(
            200,
            r#"{"primary":"a","term":7,"max_term":7,"node":"a","is_primary":true,"lease":false,"witnesses":[],"quorum":true,"live":2,"alive":1,"expected":3}"#
        )
    );
    // HEAD: the status of GET, no body.
    let head = call(addr, "HEAD", "/health").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let head = call(addr, "HEAD", "/health/secondary").await;
    assert_eq!((head.status, head.body.as_str()), (503, ""));
}

#[tokio::test]
async fn the_read_routes_of_a_secondary_and_of_a_joining_node() {
    let addr = serve(http::public(state(secondary(), None))).await;
    let health = r#"{"node":"b","cluster":"prod","healthy":true,"health":"warning","phase":"joined","draining":false,"role":"secondary","primary":"a"}"#;
    assert_eq!(call(addr, "GET", "/health").await, json(200, health));
    assert_eq!(
        call(addr, "GET", "/health/secondary").await,
        json(200, health)
    );
    assert_eq!(
        call(addr, "GET", "/health/primary").await,
        json(503, health)
    );
    assert_eq!(
        call(addr, "GET", "/v1/members").await,
        json(200, r#"{"node":"b","cluster":"prod","members":[]}"#)
    );
    assert_eq!(
        call(addr, "GET", "/v1/primary").await,
        json(
            200,
            r#"{"primary":"a","term":7,"max_term":7,"node":"b","is_primary":false,"lease":false,"witnesses":[],"quorum":true,"live":2,"alive":1,"expected":3}"#
        )
    );

    let addr = serve(http::public(state(joining(), None))).await;
    let health = r#"{"node":"e","cluster":"prod","healthy":false,"health":"failing","phase":"joining","draining":true,"role":"none","primary":null}"#;
    for route in ["/health", "/readyz", "/health/primary", "/health/secondary"] {
        assert_eq!(call(addr, "GET", route).await, json(503, health), "{route}");
    }
    assert_eq!(
        call(addr, "GET", "/livez").await,
        json(200, r#"{"node":"e","live":true}"#)
    );
    assert_eq!(
        call(addr, "GET", "/v1/primary").await,
        json(
            200,
            r#"{"primary":null,"term":null,"max_term":0,"node":"e","is_primary":false,"lease":false,"witnesses":[],"quorum":false,"live":1,"alive":1,"expected":1}"#
        )
    );
}

#[tokio::test]
async fn the_status_page_and_the_recent_events() {
    let mut state = state(primary(), None);
    let events = herd::http::events::EventLog::default();
    events.record(
        1_764_744_000_123,
        &herd::core::Event::RoleChanged {
            claiming: true,
            term: 4,
        },
    );
    state.events = events;
    let addr = serve(http::public(state)).await;
    let page = call(addr, "GET", "/").await;
    assert_eq!(
        (page.status, page.content_type.as_deref()),
        (200, Some("text/html; charset=utf-8"))
    );
    for hook in ["id=\"primary\"", "dataset.member", "v1/events"] {
        assert!(page.body.contains(hook), "{hook} missing from the page");
    }
    assert_eq!(
        call(addr, "GET", "/v1/events").await,
        json(
            200,
            r#"{"node":"a","events":[{"seq":1,"at_ms":1764744000123,"kind":"role_changed","text":"this node is now the primary (term 4)","term":4}]}"#
        )
    );
}

#[tokio::test]
async fn metrics_unknown_routes_and_other_methods() {
    let addr = serve(http::public(state(primary(), None))).await;
    let metrics = call(addr, "GET", "/metrics").await;
    assert_eq!(
        (metrics.status, metrics.content_type.as_deref()),
        (200, Some("text/plain; version=0.0.4; charset=utf-8"))
    );
    assert_eq!(
        call(addr, "GET", "/v2/members").await,
        json(
            404,
            r#"{"error":"no such route; see / (the status page), /v1/members, /v1/primary, /v1/events, /health"}"#
        )
    );
    let refused = call(addr, "POST", "/health").await;
    assert_eq!((refused.status, refused.body.as_str()), (405, ""));
    // Changing the node is for the admin listener only.
    let forbidden = json(
        403,
        r#"{"error":"calls that change the node are accepted only on the admin listener, 127.0.0.1:7948 (herd drain, herd resume, herd forget)"}"#,
    );
    for route in ["/v1/drain", "/v1/resume", "/v1/forget/c"] {
        assert_eq!(call(addr, "POST", route).await, forbidden, "{route}");
    }
}

/// Answers commands as a node would: drain and resume succeed, forget
/// refuses as the command names.
async fn fake_node(mut requests: mpsc::Receiver<Request>) {
    while let Some(request) = requests.recv().await {
        let outcome = match request.command {
            Command::Forget(name) if name == "a" => Err(CommandError::ForgetSelf),
            Command::Forget(name) if name == "b" => {
                Err(CommandError::MemberLive(name, MemberState::Suspect))
            }
            Command::Forget(name) if name == "leaving" => Err(CommandError::Leaving),
            Command::Forget(name) if name != "c" => Err(CommandError::UnknownMember(name)),
            Command::Forget(_) | Command::Drain | Command::Resume => Ok(()),
            other => panic!("unexpected command {other:?}"),
        };
        if let Some(reply) = request.reply {
            let _ = reply.send(outcome);
        }
    }
}

#[tokio::test]
async fn the_admin_routes() {
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(fake_node(receiver));
    let addr = serve(http::admin(state(primary(), Some(sender)))).await;
    for action in ["drain", "resume"] {
        assert_eq!(
            call(addr, "POST", &format!("/v1/{action}")).await,
            json(
                200,
                &format!(r#"{{"ok":true,"node":"a","action":"{action}"}}"#)
            )
        );
    }
    assert_eq!(
        call(addr, "POST", "/v1/forget/c").await,
        json(200, r#"{"ok":true,"node":"a","action":"forget"}"#)
    );
    assert_eq!(
        call(addr, "POST", "/v1/forget/ghost").await,
        json(404, r#"{"error":"no member is named \"ghost\""}"#)
    );
    assert_eq!(
        call(addr, "POST", "/v1/forget/b").await,
        json(
            409,
            r#"{"error":"b is suspect; only a member that is down or suspect can be forgotten (stop it first)"}"#
        )
    );
    assert_eq!(
        call(addr, "POST", "/v1/forget/a").await,
        json(
            409,
            r#"{"error":"a node cannot forget itself; stop it with SIGTERM to leave"}"#
        )
    );
    assert_eq!(
        call(addr, "POST", "/v1/forget/leaving").await,
        json(409, r#"{"error":"this node is leaving the cluster"}"#)
    );
    // The admin listener serves the read routes too.
    assert_eq!(
        call(addr, "GET", "/health").await,
        json(200, PRIMARY_HEALTH)
    );
    let drain = call(addr, "GET", "/v1/drain").await;
    assert_eq!((drain.status, drain.body.as_str()), (405, ""));
}

#[tokio::test]
async fn a_web_page_cannot_change_the_node() {
    let (sender, mut receiver) = mpsc::channel(4);
    let addr = serve(http::admin(state(primary(), Some(sender)))).await;
    let no_header = json(
        403,
        r#"{"error":"a call that changes the node needs the header X-Herd-Admin (herd drain, herd resume and herd forget send it): a web page cannot send it without the server's consent"}"#,
    );
    // A cross-site form post: no custom header, a simple content type.
    let form =
        "Host: 127.0.0.1:7948\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n";
    for route in ["/v1/drain", "/v1/resume", "/v1/forget/c"] {
        assert_eq!(
            call_with(addr, "POST", route, form).await,
            no_header,
            "{route}"
        );
    }
    // A DNS name rebound to 127.0.0.1: the page's own name is the Host.
    let rebound = "Host: evil.example:7948\r\nX-Herd-Admin: 1\r\n";
    assert_eq!(
        call_with(addr, "POST", "/v1/drain", rebound).await,
        json(
            403,
            r#"{"error":"the Host header must name a loopback address or the admin listener"}"#
        )
    );
    // The header, but sent by a page of another origin (its preflight
    // would have failed first; refused anyway).
    let other_origin = "Host: localhost:7948\r\nX-Herd-Admin: 1\r\nOrigin: http://evil.example\r\n";
    assert_eq!(
        call_with(addr, "POST", "/v1/drain", other_origin).await,
        json(
            403,
            r#"{"error":"a call from a web page of another origin is refused"}"#
        )
    );
    // Nothing reached the node.
    assert!(receiver.try_recv().is_err());
    // A JSON content type is as good as the header, and any loopback name
    // or address will do.
    tokio::spawn(fake_node(receiver));
    for headers in [
        "Host: localhost\r\nContent-Type: application/json\r\n",
        "Host: [::1]:7948\r\nX-Herd-Admin: yes\r\n",
        "Host: 127.0.0.1\r\nX-Herd-Admin: 1\r\nOrigin: http://localhost:7948\r\n",
    ] {
        assert_eq!(
            call_with(addr, "POST", "/v1/drain", headers).await,
            json(200, r#"{"ok":true,"node":"a","action":"drain"}"#),
            "{headers}"
        );
    }
}

#[tokio::test]
async fn the_admin_routes_of_a_stopping_agent() {
    let stopping = json(503, r#"{"error":"the agent is stopping"}"#);
    // No command channel at all.
    let addr = serve(http::admin(state(primary(), None))).await;
    assert_eq!(call(addr, "POST", "/v1/drain").await, stopping);
    // A channel whose node is gone.
    let (sender, receiver) = mpsc::channel(4);
    drop(receiver);
    let addr = serve(http::admin(state(primary(), Some(sender)))).await;
    assert_eq!(call(addr, "POST", "/v1/forget/c").await, stopping);
}

#[tokio::test]
#[allow(clippy::disallowed_methods)] // the agent's clock, as the agent reads it
async fn a_claim_whose_lease_ran_out_is_no_claim_even_before_the_node_says_so() {
    // The node's time counts from the agent's start; the snapshot still
    // says "claiming", as a node task starved since its last renewal would
    // leave it.
    let started = std::time::Instant::now() - std::time::Duration::from_secs(10);
    let with_lease = |until_s: u64| {
        let mut state = state(
            Snapshot {
                claim_until: Some(std::time::Duration::from_secs(until_s)),
                ..primary()
            },
            None,
        );
        let deadline = http::ClaimDeadline::new(started);
        deadline.set(Some(std::time::Duration::from_secs(until_s)));
        state.claim_deadline = Some(deadline);
        state
    };
    let running = serve(http::public(with_lease(3600))).await;
    assert_eq!(call(running, "GET", "/health/primary").await.status, 200);
    let lapsed = serve(http::public(with_lease(5))).await;
    assert_eq!(call(lapsed, "GET", "/health/primary").await.status, 503);
    assert!(
        call(lapsed, "GET", "/v1/primary")
            .await
            .body
            .contains(r#""is_primary":false"#)
    );
}
