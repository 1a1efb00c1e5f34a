//! The health endpoint, the JSON API and the metrics endpoint.
//!
//! Routes (GET, and HEAD with the same status and no body):
//!
//! | route               | 200 when                                            |
//! |---------------------|-----------------------------------------------------|
//! | `/health`, `/readyz`| joined, checks passing (or warning), not draining   |
//! | `/livez`            | the process runs                                    |
//! | `/health/primary`   | this node claims the primary role                   |
//! | `/health/secondary` | healthy and not primary                             |
//! | `/v1/members`       | always: every member this node knows                |
//! | `/v1/primary`       | always: the primary this node's view names          |
//! | `/v1/events`        | always: this node's recent events, oldest first     |
//! | `/v1/explain`       | always: why this view names its primary, or none    |
//! | `/`                 | always: the status page (HTML, polls the above)     |
//! | `/metrics`          | always: Prometheus text format                      |
//!
//! Other statuses are 503 (for the health routes), 404 (unknown route) and
//! 405 (another method). Every answer comes from the snapshot the gossip
//! task publishes, so a request never waits on gossip and a slow client
//! never slows gossip.
//!
//! The admin listener (loopback only, see `admin` in the configuration)
//! serves the same routes plus the ones that change the node:
//!
//! | route                       | does                                        |
//! |-----------------------------|---------------------------------------------|
//! | `POST /v1/drain`            | maintenance: `/health` 503, role hands over |
//! | `POST /v1/resume`           | back into service                           |
//! | `POST /v1/forget/{name}`    | mark a member that is down as left for good |
//!
//! They answer 200, or 404 (no such member), 409 (refused: the member is
//! alive, or this node is leaving) and 503 (the agent is stopping). On the
//! public listener they answer 403.
//!
//! A browser on the host must not be able to drain or forget nodes for a
//! web page (a cross-site POST, or a DNS name rebound to 127.0.0.1). So a
//! call that changes the node needs the [`ADMIN_HEADER`] header (or a JSON
//! content type), which a browser sends cross-site only after a CORS
//! preflight that this server never grants; and its `Host` (and `Origin`,
//! if any) must name a loopback address or the admin listener's own.
//! Anything else answers 403 and changes nothing. `herd drain`, `herd
//! resume` and `herd forget` send the header.

pub mod command;
pub mod events;
pub mod front;
pub(crate) mod json;
pub mod serve;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use command::Request;
use json::{DoneJson, ErrorJson, HealthJson, LiveJson, MembersJson, PrimaryJson};

use crate::core::{Command, CommandError, Snapshot};
use crate::metrics;
pub use crate::metrics::HttpMetrics;

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// The latest snapshot of the node.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// The metrics registry.
    pub registry: prometheus::Registry,
    /// Where commands go: set on the admin listener only.
    pub requests: Option<mpsc::Sender<Request>>,
    /// The admin listener's address, named when a mutating call reaches the
    /// public listener.
    pub admin: SocketAddr,
    /// Until when the node's claim holds without another renewal of its
    /// lease (`None`: the snapshot is taken as it is).
    pub claim_deadline: Option<ClaimDeadline>,
    /// The recent events, for `/v1/events`.
    pub events: events::EventLog,
    /// Where requests are counted (`None`: not counted).
    pub metrics: Option<HttpMetrics>,
    /// The health routes' body, rendered once per snapshot.
    pub health_answers: HealthAnswers,
}

/// The body of `/health`, `/readyz`, `/health/primary` and
/// `/health/secondary`, rendered once per published snapshot and shared by
/// every answer until the next: balancers ask many times a second, the
/// snapshot changes a few times a minute. The four routes give the same
/// body and differ only in their status.
#[derive(Clone, Default)]
pub struct HealthAnswers {
    rendered: Arc<std::sync::Mutex<Option<RenderedHealth>>>,
}

struct RenderedHealth {
    /// The published snapshot it was rendered from (compared by pointer).
    snapshot: Arc<Snapshot>,
    /// Whether it was rendered with the claim lapsed (see
    /// [`ClaimDeadline`]).
    lapsed: bool,
    body: bytes::Bytes,
}

impl HealthAnswers {
    /// The snapshot the answer is about and its body.
    fn get(&self, state: &HttpState) -> (Arc<Snapshot>, bytes::Bytes) {
        let published = state.snapshot.borrow().clone();
        let lapsed = state.claim_lapsed(&published);
        let mut rendered = self
            .rendered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = &*rendered
            && r.lapsed == lapsed
            && Arc::ptr_eq(&r.snapshot, &published)
        {
            let snapshot = if lapsed {
                lapsed_copy(&published)
            } else {
                published
            };
            return (snapshot, r.body.clone());
        }
        let snapshot = if lapsed {
            lapsed_copy(&published)
        } else {
            published.clone()
        };
        let body = match serde_json::to_vec(&HealthJson::from(&*snapshot)) {
            Ok(body) => bytes::Bytes::from(body),
            // Serialising plain fields and strings cannot fail.
            Err(_) => bytes::Bytes::from_static(b"{}"),
        };
        *rendered = Some(RenderedHealth {
            snapshot: published,
            lapsed,
            body: body.clone(),
        });
        (snapshot, body)
    }
}

fn lapsed_copy(snapshot: &Snapshot) -> Arc<Snapshot> {
    let mut lapsed = snapshot.clone();
    lapsed.claiming = false;
    Arc::new(lapsed)
}

/// Until when this node's claim holds without another renewal of its lease,
/// as the driver last saw it. The driver stores it after every input (a
/// renewal moves it every 100 ms; the snapshot is published only when
/// something an operator sees changed); the health routes answer as if the
/// node did not claim once it has passed, even while the node task does not
/// run (a starved or frozen process).
#[derive(Debug, Clone)]
pub struct ClaimDeadline {
    /// The instant the node's time counts from.
    started: std::time::Instant,
    /// Nanoseconds of node time; `u64::MAX`: no lease bounds the claim.
    until: Arc<std::sync::atomic::AtomicU64>,
}

impl ClaimDeadline {
    /// A deadline on the node time that counts from `started`, unset.
    pub fn new(started: std::time::Instant) -> Self {
        Self {
            started,
            until: Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX)),
        }
    }

    /// Sets it (`None`: no lease bounds the claim).
    pub fn set(&self, until: Option<std::time::Duration>) {
        let nanos = until.map_or(u64::MAX, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(u64::MAX - 1)
        });
        self.until
            .store(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    fn passed(&self) -> bool {
        let until = self.until.load(std::sync::atomic::Ordering::Relaxed);
        until != u64::MAX
            && u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX) >= until
    }
}

impl HttpState {
    fn current(&self) -> Arc<Snapshot> {
        let snapshot = self.snapshot.borrow().clone();
        if self.claim_lapsed(&snapshot) {
            return lapsed_copy(&snapshot);
        }
        snapshot
    }

    /// Whether the snapshot claims the role past the claim's deadline.
    fn claim_lapsed(&self, snapshot: &Snapshot) -> bool {
        snapshot.claiming
            && self
                .claim_deadline
                .as_ref()
                .is_some_and(ClaimDeadline::passed)
    }
}

/// The public listener's service: the health routes answered in front of
/// [`router`].
pub fn public(state: HttpState) -> front::Front {
    front::Front::new(router(state.clone()), state, PUBLIC)
}

/// The admin listener's service: the health routes answered in front of
/// [`admin_router`].
pub fn admin(state: HttpState) -> front::Front {
    front::Front::new(admin_router(state.clone()), state, ADMIN)
}

/// The listener labels of the requests counted.
const PUBLIC: &str = "public";
const ADMIN: &str = "admin";

/// The public router: health, API and metrics; mutating calls answer 403.
pub fn router(state: HttpState) -> Router {
    read_routes()
        .route("/v1/drain", post(admin_only))
        .route("/v1/resume", post(admin_only))
        .route("/v1/forget/{name}", post(admin_only))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            (state.metrics.clone(), PUBLIC),
            count_request,
        ))
        .with_state(state)
}

/// The admin router: everything the public one serves, plus drain, resume
/// and forget, for callers that prove they are no web page (see the
/// module doc).
pub fn admin_router(state: HttpState) -> Router {
    let mutating = Router::new()
        .route("/v1/drain", post(drain))
        .route("/v1/resume", post(resume))
        .route("/v1/forget/{name}", post(forget))
        .route_layer(middleware::from_fn_with_state(state.clone(), admin_guard));
    read_routes()
        .merge(mutating)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            (state.metrics.clone(), ADMIN),
            count_request,
        ))
        .with_state(state)
}

/// Counts a request by listener, route pattern (never the raw path: the
/// label set stays bounded whatever clients ask) and status code.
async fn count_request(
    State((metrics, listener)): State<(Option<HttpMetrics>, &'static str)>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let Some(metrics) = metrics else {
        return next.run(request).await;
    };
    // The matched path is shared (an `Arc`): counting allocates nothing.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let began = request_clock();
    let response = next.run(request).await;
    metrics.answered(
        listener,
        route.as_ref().map_or("other", |path| path.as_str()),
        response.status().as_str(),
        began.elapsed(),
    );
    response
}

#[allow(clippy::disallowed_methods)]
fn request_clock() -> std::time::Instant {
    // How long an answer took is measured in real time.
    std::time::Instant::now()
}

/// The header a call that changes the node must carry (any value).
pub const ADMIN_HEADER: &str = "x-herd-admin";

async fn admin_guard(
    State(state): State<HttpState>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    match admin_call_refused(request.headers(), state.admin) {
        Some(why) => {
            tracing::warn!(why, "refused a call that would change the node");
            error(StatusCode::FORBIDDEN, why)
        }
        None => next.run(request).await,
    }
}

/// Why a call that changes the node is refused, if it is.
fn admin_call_refused(headers: &HeaderMap, admin: SocketAddr) -> Option<&'static str> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !headers.contains_key(ADMIN_HEADER) && !json {
        return Some(
            "a call that changes the node needs the header X-Herd-Admin (herd drain, herd resume \
             and herd forget send it): a web page cannot send it without the server's consent",
        );
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !host.is_some_and(|host| names_this_host(host, admin)) {
        return Some("the Host header must name a loopback address or the admin listener");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.parse::<axum::http::Uri>().ok())
            .and_then(|uri| uri.authority().map(|a| a.as_str().to_owned()));
        if !authority.is_some_and(|a| names_this_host(&a, admin)) {
            return Some("a call from a web page of another origin is refused");
        }
    }
    None
}

/// Whether `authority` (`host[:port]`) names a loopback address,
/// `localhost`, or the admin listener's own address.
fn names_this_host(authority: &str, admin: SocketAddr) -> bool {
    let Ok(authority) = authority.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip == admin.ip())
}

fn read_routes() -> Router<HttpState> {
    let health = front::HealthRoute::ALL
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(
                route.path(),
                get(move |State(state): State<HttpState>| async move {
                    health_route(&state, route)
                }),
            )
        });
    health
        .route("/livez", get(live))
        .route("/v1/members", get(members))
        .route("/v1/primary", get(primary))
        .route("/v1/events", get(recent_events))
        .route("/v1/explain", get(explain))
        .route("/metrics", get(metrics_text))
        .route("/", get(status_page))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(ErrorJson { error: message })).into_response()
}

async fn admin_only(State(state): State<HttpState>) -> Response {
    error(
        StatusCode::FORBIDDEN,
        &format!(
            "calls that change the node are accepted only on the admin listener, {} (herd drain, herd resume, herd forget)",
            state.admin
        ),
    )
}

async fn command(state: &HttpState, command: Command) -> Result<(), Response> {
    let unavailable = || error(StatusCode::SERVICE_UNAVAILABLE, "the agent is stopping");
    let Some(requests) = &state.requests else {
        return Err(unavailable());
    };
    let (request, answer) = Request::ask(command);
    requests.send(request).await.map_err(|_| unavailable())?;
    match answer.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => {
            let status = match err {
                CommandError::UnknownMember(_) => StatusCode::NOT_FOUND,
                CommandError::MemberLive(..) | CommandError::ForgetSelf | CommandError::Leaving => {
                    StatusCode::CONFLICT
                }
                CommandError::Keyring(_) => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Err(error(status, &err.to_string()))
        }
        Err(_) => Err(unavailable()),
    }
}

async fn done(state: &HttpState, action: &str) -> Response {
    let snapshot = state.current();
    json_status(
        true,
        &DoneJson {
            ok: true,
            node: &snapshot.name,
            action,
        },
    )
}

async fn drain(State(state): State<HttpState>) -> Response {
    match command(&state, Command::Drain).await {
        Ok(()) => done(&state, "drain").await,
        Err(response) => response,
    }
}

async fn resume(State(state): State<HttpState>) -> Response {
    match command(&state, Command::Resume).await {
        Ok(()) => done(&state, "resume").await,
        Err(response) => response,
    }
}

async fn forget(State(state): State<HttpState>, Path(name): Path<String>) -> Response {
    match command(&state, Command::Forget(name)).await {
        Ok(()) => done(&state, "forget").await,
        Err(response) => response,
    }
}

fn json_status<T: Serialize>(ok: bool, body: &T) -> Response {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// A health route as the router answers it (methods other than `GET` and
/// `HEAD`; those are answered in front, the same way).
fn health_route(state: &HttpState, route: front::HealthRoute) -> Response {
    let (status, body) = front::health_answer(state, route);
    (status, [(header::CONTENT_TYPE, front::JSON)], body).into_response()
}

async fn live(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(true, &LiveJson::from(&*snapshot))
}

async fn members(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(true, &MembersJson::from(&*snapshot))
}

async fn primary(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(true, &PrimaryJson::from(&*snapshot))
}

async fn recent_events(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(
        true,
        &json::EventsJson {
            node: &snapshot.name,
            events: state.events.recent(),
        },
    )
}

/// How long before a role change a membership or health change counts as
/// its likely cause.
const CAUSE_WINDOW_MS: u64 = 10_000;

async fn explain(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    let recent = state.events.recent();
    let last_change = recent
        .iter()
        .rposition(|e| matches!(e.kind, "primary_changed" | "role_changed"))
        .map(|at| {
            let event = recent[at].clone();
            let since = event.at_ms.saturating_sub(CAUSE_WINDOW_MS);
            let preceded_by = recent[..at]
                .iter()
                .filter(|e| e.at_ms >= since)
                .filter(|e| {
                    matches!(
                        e.kind,
                        "member_state" | "member_health" | "member_reaped" | "left" | "rejoined"
                    )
                })
                .cloned()
                .collect();
            json::LastChange {
                event,
                preceded_by,
                previous_primary: None,
            }
        });
    let explanation = crate::core::explain(&snapshot);
    // Why the primary before the last change is not the primary now: no
    // longer a candidate (down, draining, failing ...), or, back, ranked
    // behind the working primary (no failback).
    let previous = recent
        .iter()
        .rev()
        .find(|e| e.kind == "primary_changed")
        .and_then(|e| e.previous.clone())
        .filter(|name| snapshot.primary.as_deref() != Some(name.as_str()));
    let last_change = last_change.map(|mut change| {
        change.previous_primary = previous.map(|name| {
            let why = explanation
                .excluded
                .iter()
                .find(|e| *e.name == *name)
                .map(|e| e.why.clone())
                .or_else(|| {
                    explanation
                        .candidates
                        .iter()
                        .find(|c| *c.name == *name)
                        .map(|c| format!("it is a candidate again, ranked {}: {}", c.rank, c.why))
                })
                .unwrap_or_else(|| "it is no longer a member of this view".to_owned());
            json::PreviousPrimary { name, why }
        });
        change
    });
    json_status(
        true,
        &json::ExplainJson {
            node: &snapshot.name,
            explanation,
            last_change,
        },
    )
}

/// The status page: one file, its script and style inline, so it works
/// offline and the agent needs no asset directory.
const STATUS_PAGE: &str = include_str!("status.html");

async fn status_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page loads nothing from elsewhere and talks only to this
            // agent; a policy that says so keeps injected markup inert.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STATUS_PAGE,
    )
        .into_response()
}

async fn metrics_text(State(state): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::encode(&state.registry),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such route; see / (the status page), /v1/members, /v1/primary, /v1/events, /health",
    )
}
