//! Serving a router on a listener so that no client can starve it: a
//! balancer's health check is answered while hostile or broken clients hold
//! connections open.
//!
//! - Every connection must send a whole request head within `head_timeout`
//!   of waiting for one; hyper counts an idle keep-alive connection as
//!   waiting, so the same bound closes idle connections (slowloris, or
//!   thousands of idle keep-alives).
//! - Up to `connections` at once are served normally. Above that, each new
//!   connection is served once, with a short head timeout and no
//!   keep-alive: a health check, which sends its request at once, is still
//!   answered, while a client that holds connections open gets them closed
//!   within `reserve_head_timeout`.
//! - Never more than `max_connections` at once (the file descriptors the
//!   agent keeps for its own checks, gossip and data directory): at that
//!   cap a new connection closes the oldest of those served once, which has
//!   had its chance, and takes its place, so a health check arriving in a
//!   flood is still answered (closing the new one instead refused the check
//!   whenever the flood filled the cap; seen in CI). Only while more than
//!   `EVICTING` closes are still under way is a new connection closed as it
//!   is accepted, and counted.
//! - When the process runs out of file descriptors (`accept` fails), the
//!   loop waits a moment instead of spinning.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::front::Front;

/// Most connections above `max_connections` while the oldest ones they
/// displaced are closing.
const EVICTING: usize = 64;

/// How many connections a listener takes, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served normally (keep-alive, `head_timeout`).
    pub connections: usize,
    /// Connections at all; above `connections` they are served once.
    pub max_connections: usize,
    /// How long a connection may take to send a request head, and may
    /// stay idle between requests.
    pub head_timeout: Duration,
    /// The same, for a connection above `connections`.
    pub reserve_head_timeout: Duration,
}

impl Default for Limits {
    /// 1,024 connections served normally (a balancer fleet polls with a
    /// handful each; issue 15 asks for 1,000 keep-alive clients), 1,536 at
    /// most (about 22 KiB each while open), 10 s for a request head (nginx's `client_header_timeout` is
    /// 60 s, but herd's requests are tiny), 1 s above the first 1,024.
    fn default() -> Self {
        Self {
            connections: 1024,
            max_connections: 1536,
            head_timeout: Duration::from_secs(10),
            reserve_head_timeout: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// These limits, with `max_connections` lowered so that `reserved`
    /// file descriptors stay free under a limit of `fd_limit` (the
    /// process's `RLIMIT_NOFILE`), shared by `listeners` listeners.
    pub fn within(mut self, fd_limit: u64, reserved: u64, listeners: usize) -> Self {
        let available = fd_limit.saturating_sub(reserved) / listeners.max(1) as u64;
        let available = usize::try_from(available).unwrap_or(usize::MAX).max(1);
        self.max_connections = self.max_connections.min(available);
        self.connections = self.connections.min(self.max_connections);
        self
    }
}

/// Counters of one listener, for logs and metrics.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections closed at once because `max_connections` were open and
    /// as many were closing already.
    pub refused: AtomicU64,
    /// Connections served once that were closed to make room for a newer
    /// one at `max_connections`.
    pub evicted: AtomicU64,
    /// Connections served once, above `connections`.
    pub reserve: AtomicU64,
}

/// Serves `router` on `listener` within `limits` until `shutdown`
/// completes; connections still open then are left to finish.
pub async fn serve(
    listener: TcpListener,
    front: Front,
    limits: Limits,
    stats: Arc<ConnectionStats>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut accept_failed_logged = false;
    // The connections served once, oldest first: dropping a sender closes
    // its connection.
    let mut served_once: VecDeque<oneshot::Sender<()>> = VecDeque::new();
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors, most likely: waiting lets
                // connections close; spinning would burn a core.
                if !accept_failed_logged {
                    tracing::warn!(
                        error = err.to_string().as_str(),
                        "cannot accept HTTP connections; retrying"
                    );
                    accept_failed_logged = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        accept_failed_logged = false;
        let open = stats.open.fetch_add(1, Ordering::Relaxed);
        if open >= limits.max_connections {
            // The oldest still open (ended ones are skipped as they come);
            // dropping it closes it.
            let displaced = open < limits.max_connections + EVICTING
                && std::iter::from_fn(|| served_once.pop_front()).any(|close| !close.is_closed());
            if !displaced {
                stats.open.fetch_sub(1, Ordering::Relaxed);
                stats.refused.fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            }
            stats.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let reserve = open >= limits.connections;
        // Only a connection served once can be displaced.
        let closed = reserve.then(|| {
            stats.reserve.fetch_add(1, Ordering::Relaxed);
            let (close, closed) = oneshot::channel::<()>();
            served_once.push_back(close);
            if served_once.len() > 2 * limits.max_connections {
                served_once.retain(|close| !close.is_closed());
            }
            closed
        });
        let service = front.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new());
            if reserve {
                builder
                    .header_read_timeout(limits.reserve_head_timeout)
                    .keep_alive(false);
            } else {
                builder.header_read_timeout(limits.head_timeout);
            }
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::trace!(error = err.to_string().as_str(), "HTTP connection ended");
                    }
                }
                // Displaced by a newer connection at the cap.
                () = displaced(closed) => {}
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Completes when the accept loop drops the connection's sender; never
/// for a connection served normally.
async fn displaced(closed: Option<oneshot::Receiver<()>>) {
    match closed {
        Some(closed) => {
            let _ = closed.await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_leave_file_descriptors_for_the_agent() {
        let limits = Limits::default().within(1024, 128, 2);
        assert_eq!((limits.max_connections, limits.connections), (448, 448));
        // What the agent raises its soft limit to when it can.
        assert_eq!(Limits::default().within(3200, 128, 2), Limits::default());
        let tight = Limits::default().within(200, 128, 2);
        assert_eq!((tight.max_connections, tight.connections), (36, 36));
        let roomy = Limits::default().within(1 << 20, 128, 2);
        assert_eq!(roomy, Limits::default());
    }
}
