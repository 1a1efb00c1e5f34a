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

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::sync::watch;

use crate::core::{MemberInfo, Snapshot};
use crate::metrics;

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// The latest snapshot of the node.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// The metrics registry.
    pub registry: prometheus::Registry,
}

impl HttpState {
    fn current(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }
}

/// The router with every route.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/readyz", get(health))
        .route("/livez", get(live))
        .route("/health/primary", get(primary_check))
        .route("/health/secondary", get(secondary_check))
        .route("/v1/members", get(members))
        .route("/v1/primary", get(primary))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .with_state(state)
}

fn role(snapshot: &Snapshot) -> &'static str {
    if snapshot.claiming {
        "primary"
    } else if snapshot.serving() {
        "secondary"
    } else {
        "none"
    }
}

#[derive(Serialize)]
struct HealthBody<'a> {
    node: &'a str,
    cluster: &'a str,
    healthy: bool,
    health: &'static str,
    phase: crate::core::Phase,
    draining: bool,
    role: &'static str,
    primary: Option<&'a str>,
}

fn health_body(snapshot: &Snapshot) -> HealthBody<'_> {
    HealthBody {
        node: &snapshot.name,
        cluster: &snapshot.cluster,
        healthy: snapshot.serving(),
        health: snapshot.health.as_str(),
        phase: snapshot.phase,
        draining: snapshot.draining,
        role: role(snapshot),
        primary: snapshot.primary.as_deref(),
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
    json_status(snapshot.serving(), &health_body(&snapshot))
}

async fn live(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    #[derive(Serialize)]
    struct Live<'a> {
        node: &'a str,
        live: bool,
    }
    json_status(
        true,
        &Live {
            node: &snapshot.name,
            live: true,
        },
    )
}

async fn primary_check(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(snapshot.claiming, &health_body(&snapshot))
}

async fn secondary_check(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(
        snapshot.serving() && !snapshot.claiming,
        &health_body(&snapshot),
    )
}

#[derive(Serialize)]
struct MembersBody<'a> {
    node: &'a str,
    cluster: &'a str,
    members: &'a [MemberInfo],
}

async fn members(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(
        true,
        &MembersBody {
            node: &snapshot.name,
            cluster: &snapshot.cluster,
            members: &snapshot.members,
        },
    )
}

#[derive(Serialize)]
struct PrimaryBody<'a> {
    primary: Option<&'a str>,
    node: &'a str,
    is_primary: bool,
    quorum: bool,
    live: usize,
    alive: usize,
    expected: usize,
}

async fn primary(State(state): State<HttpState>) -> Response {
    let snapshot = state.current();
    json_status(
        true,
        &PrimaryBody {
            primary: snapshot.primary.as_deref(),
            node: &snapshot.name,
            is_primary: snapshot.claiming,
            quorum: snapshot.quorate,
            live: snapshot.live,
            alive: snapshot.alive,
            expected: snapshot.expected,
        },
    )
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
    #[derive(Serialize)]
    struct NotFound {
        error: &'static str,
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(NotFound {
            error: "no such route; see /v1/members, /v1/primary, /health",
        }),
    )
        .into_response()
}
