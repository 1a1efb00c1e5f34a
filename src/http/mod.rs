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

pub mod command;
pub(crate) mod json;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use command::Request;
use json::{DoneJson, ErrorJson, HealthJson, LiveJson, MembersJson, PrimaryJson};

use crate::core::{Command, CommandError, Snapshot};
use crate::metrics;

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
}

impl HttpState {
    fn current(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }
}

/// The public router: health, API and metrics; mutating calls answer 403.
pub fn router(state: HttpState) -> Router {
    read_routes()
        .route("/v1/drain", post(admin_only))
        .route("/v1/resume", post(admin_only))
        .route("/v1/forget/{name}", post(admin_only))
        .fallback(not_found)
        .with_state(state)
}

/// The admin router: everything the public one serves, plus drain, resume
/// and forget.
pub fn admin_router(state: HttpState) -> Router {
    read_routes()
        .route("/v1/drain", post(drain))
        .route("/v1/resume", post(resume))
        .route("/v1/forget/{name}", post(forget))
        .fallback(not_found)
        .with_state(state)
}

fn read_routes() -> Router<HttpState> {
    Router::new()
        .route("/health", get(health))
        .route("/readyz", get(health))
        .route("/livez", get(live))
        .route("/health/primary", get(primary_check))
        .route("/health/secondary", get(secondary_check))
        .route("/v1/members", get(members))
        .route("/v1/primary", get(primary))
        .route("/metrics", get(metrics_text))
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

async fn health(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(snapshot.serving(), &HealthJson::from(&*snapshot))
}

async fn live(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(true, &LiveJson::from(&*snapshot))
}

async fn primary_check(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(snapshot.claiming, &HealthJson::from(&*snapshot))
}

async fn secondary_check(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(
        snapshot.serving() && !snapshot.claiming,
        &HealthJson::from(&*snapshot),
    )
}

async fn members(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(true, &MembersJson::from(&*snapshot))
}

async fn primary(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(true, &PrimaryJson::from(&*snapshot))
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
        "no such route; see /v1/members, /v1/primary, /health",
    )
}
