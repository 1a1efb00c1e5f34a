//! The health routes answered in front of the router.
//!
//! Balancers ask `/health` and its kin many times a second on every node,
//! and the answer is a body rendered once per snapshot (`HealthAnswers`).
//! Through axum each answer also paid for the route lookup, the counting
//! middleware's boxed future, a clone and drop of the whole [`HttpState`],
//! a boxed body and two label lookups in the metrics: a third of the
//! agent's own time per request (`perf`, issue 15). [`Front`] answers a
//! `GET` or `HEAD` of the four health routes itself, with the same status,
//! headers and body the router gives and counted under the same labels,
//! and hands everything else to the router.

use std::convert::Infallible;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::Router;
use axum::http::{Method, Request, Response, StatusCode, header};
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};

use super::HttpState;
use crate::core::Snapshot;

/// What a connection's requests go to: the health routes, or the router.
#[derive(Clone)]
pub struct Front {
    router: TowerToHyperService<Router>,
    health: Arc<Health>,
}

/// A health answer's body, or the router's.
pub type Body = Either<Full<Bytes>, axum::body::Body>;

impl Front {
    /// `router` must serve the same health routes from `state` (it still
    /// answers their other methods); `listener` labels the requests counted.
    pub(super) fn new(router: Router, state: HttpState, listener: &'static str) -> Self {
        Self {
            router: TowerToHyperService::new(router),
            health: Arc::new(Health {
                state,
                listener,
                counted: Default::default(),
                durations: Default::default(),
            }),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for Front {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        if matches!(*request.method(), Method::GET | Method::HEAD)
            && let Some(route) = HealthRoute::of(request.uri().path())
        {
            return Answer::Now(std::future::ready(Ok(self.health.answer(route))));
        }
        Answer::Routed(Box::pin(self.router.call(request)))
    }
}

/// The future of one request's answer.
pub enum Answer {
    /// A health route, answered already.
    Now(Ready<Result<Response<Body>, Infallible>>),
    /// Anything else, as the router answers it.
    Routed(Pin<Box<TowerToHyperServiceFuture<Router, Request<Incoming>>>>),
}

impl Future for Answer {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Answer::Now(ready) => Pin::new(ready).poll(cx),
            Answer::Routed(routed) => routed
                .as_mut()
                .poll(cx)
                .map(|answered| answered.map(|response| response.map(Either::Right))),
        }
    }
}

/// The routes answered in front; the router serves the same paths (for the
/// methods answered there) from [`HealthRoute::ALL`], through
/// [`health_answer`] too.
#[derive(Clone, Copy)]
pub(super) enum HealthRoute {
    Health,
    Readyz,
    Primary,
    Secondary,
}

impl HealthRoute {
    pub(super) const ALL: [HealthRoute; 4] = [
        HealthRoute::Health,
        HealthRoute::Readyz,
        HealthRoute::Primary,
        HealthRoute::Secondary,
    ];

    fn of(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|route| route.path() == path)
    }

    pub(super) fn path(self) -> &'static str {
        match self {
            HealthRoute::Health => "/health",
            HealthRoute::Readyz => "/readyz",
            HealthRoute::Primary => "/health/primary",
            HealthRoute::Secondary => "/health/secondary",
        }
    }

    fn ok(self, snapshot: &Snapshot) -> bool {
        match self {
            HealthRoute::Health | HealthRoute::Readyz => snapshot.serving(),
            HealthRoute::Primary => snapshot.claiming,
            HealthRoute::Secondary => snapshot.serving() && !snapshot.claiming,
        }
    }
}

struct Health {
    state: HttpState,
    listener: &'static str,
    /// Each route's counters by answer (200, 503) and its durations,
    /// looked up in the metrics once, at first use: like the router's
    /// counting, a route or status never answered adds no series.
    counted: [[OnceLock<prometheus::IntCounter>; 2]; 4],
    durations: [OnceLock<prometheus::Histogram>; 4],
}

/// A health route's answer: 200 or 503 by the route's rule, and the body
/// rendered for the snapshot.
pub(super) fn health_answer(state: &HttpState, route: HealthRoute) -> (StatusCode, Bytes) {
    let (snapshot, body) = state.health_answers.get(state);
    let status = if route.ok(&snapshot) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

/// The content type of every health answer.
pub(super) const JSON: header::HeaderValue = header::HeaderValue::from_static("application/json");

impl Health {
    fn answer(&self, route: HealthRoute) -> Response<Body> {
        let began = super::request_clock();
        let (status, body) = health_answer(&self.state, route);
        let ok = status == StatusCode::OK;
        let mut response = Response::new(Either::Left(Full::new(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, JSON);
        if let Some(metrics) = &self.state.metrics {
            let (listener, path) = (self.listener, route.path());
            self.counted[route as usize][usize::from(!ok)]
                .get_or_init(|| metrics.requests(listener, path, status.as_str()))
                .inc();
            self.durations[route as usize]
                .get_or_init(|| metrics.durations(listener, path))
                .observe(began.elapsed().as_secs_f64());
        }
        response
    }
}
