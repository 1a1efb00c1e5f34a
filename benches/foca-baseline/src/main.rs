//! foca-baseline: the leanest gossip agent we can write with foca 2.x, to
//! compare herd's footprint against (issue 15).
//!
//! - foca with `Config::new_lan(n)` and foca's own `PostcardCodec`, no
//!   custom broadcasts;
//! - an identity as in foca's examples: the address plus a small random
//!   bump that `renew` increments, so a member declared down rejoins;
//! - a tokio `current_thread` runtime (one thread), one UDP socket, timers
//!   kept in a plain list and delivered in the order they were scheduled;
//! - a hand-written HTTP/1.1 server (keep-alive): `GET /health` answers
//!   `200 ok`, `GET /metrics` answers `sent_datagrams N` and `sent_bytes N`
//!   (UDP payload bytes this process sent), and `members N` (the active
//!   members foca knows besides itself, so a harness can see the cluster
//!   formed).
//!
//! Usage: foca-baseline --gossip ADDR --http ADDR [--seed ADDR]
//!        [--cluster-size N (default 10, for Config::new_lan)]

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use foca::{AccumulatingRuntime, Config, Foca, PostcardCodec, Timer};
use rand::RngExt;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::{Instant, sleep_until};

static SENT_DATAGRAMS: AtomicU64 = AtomicU64::new(0);
static SENT_BYTES: AtomicU64 = AtomicU64::new(0);
/// Members foca counts as active (itself excluded), for the harness to see
/// the cluster formed.
static MEMBERS: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Id {
    addr: SocketAddr,
    bump: u16,
}

impl foca::Identity for Id {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(Id {
            addr: self.addr,
            bump: self.bump.wrapping_add(1),
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.bump > adversary.bump
    }
}

struct Args {
    gossip: SocketAddr,
    http: SocketAddr,
    seed: Option<SocketAddr>,
    cluster_size: u32,
}

fn usage() -> ! {
    eprintln!(
        "usage: foca-baseline --gossip ADDR --http ADDR [--seed ADDR] [--cluster-size N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut gossip = None;
    let mut http = None;
    let mut seed = None;
    let mut cluster_size = 10;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--gossip" => gossip = Some(value.parse().unwrap_or_else(|_| usage())),
            "--http" => http = Some(value.parse().unwrap_or_else(|_| usage())),
            "--seed" => seed = Some(value.parse().unwrap_or_else(|_| usage())),
            "--cluster-size" => cluster_size = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    Args {
        gossip: gossip.unwrap_or_else(|| usage()),
        http: http.unwrap_or_else(|| usage()),
        seed,
        cluster_size,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = parse_args();

    let http = TcpListener::bind(args.http).await?;
    tokio::spawn(async move {
        loop {
            if let Ok((stream, _)) = http.accept().await {
                tokio::spawn(serve_http(stream));
            }
        }
    });

    let socket = UdpSocket::bind(args.gossip).await?;
    let mut rng: StdRng = rand::make_rng();
    let identity = Id {
        addr: args.gossip,
        bump: rng.random(),
    };
    let config = Config::new_lan(NonZeroU32::new(args.cluster_size.max(1)).unwrap());
    let mut recv_buf = vec![0u8; config.max_packet_size.get()];
    let mut foca = Foca::new(identity, config, rng, PostcardCodec);
    let mut runtime = AccumulatingRuntime::new();
    // (deadline, sequence, timer): the sequence keeps timers due at the same
    // instant in the order foca scheduled them.
    let mut timers: Vec<(Instant, u64, Timer<Id>)> = Vec::new();
    let mut seq = 0u64;

    if let Some(seed) = args.seed {
        let target = Id { addr: seed, bump: 0 };
        let _ = foca.announce(target, &mut runtime);
    }

    loop {
        // Everything foca produced: datagrams, timers; notifications dropped.
        while let Some((dst, data)) = runtime.to_send() {
            if socket.send_to(&data, dst.addr).await.is_ok() {
                SENT_DATAGRAMS.fetch_add(1, Ordering::Relaxed);
                SENT_BYTES.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        let now = Instant::now();
        while let Some((after, timer)) = runtime.to_schedule() {
            seq += 1;
            timers.push((now + after, seq, timer));
        }
        while runtime.to_notify().is_some() {}
        MEMBERS.store(foca.num_members() as u64, Ordering::Relaxed);

        let next = timers
            .iter()
            .enumerate()
            .min_by_key(|(_, (at, seq, _))| (*at, *seq))
            .map(|(index, (at, _, _))| (index, *at));
        tokio::select! {
            received = socket.recv_from(&mut recv_buf) => {
                if let Ok((len, _from)) = received {
                    let _ = foca.handle_data(&recv_buf[..len], &mut runtime);
                }
            }
            _ = sleep_until(next.map_or_else(Instant::now, |(_, at)| at)), if next.is_some() => {
                let (index, _) = next.unwrap();
                let (_, _, timer) = timers.swap_remove(index);
                let _ = foca.handle_timer(timer, &mut runtime);
            }
        }
    }
}

/// One keep-alive HTTP/1.1 connection: reads request heads up to
/// `\r\n\r\n` and answers each; bodies are not expected (GET only).
async fn serve_http(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            if buf.len() > 16 * 1024 {
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = &buf[..end];
        let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(0);
        let mut parts = head[..line_end].split(|&b| b == b' ');
        let method = parts.next().unwrap_or_default();
        let path = parts.next().unwrap_or_default();
        let close = contains_ignore_case(head, b"\r\nconnection: close");
        let response: Vec<u8> = match (method, path) {
            (b"GET", b"/health") => {
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok".to_vec()
            }
            (b"GET", b"/metrics") => {
                let body = format!(
                    "sent_datagrams {}\nsent_bytes {}\nmembers {}\n",
                    SENT_DATAGRAMS.load(Ordering::Relaxed),
                    SENT_BYTES.load(Ordering::Relaxed),
                    MEMBERS.load(Ordering::Relaxed)
                );
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{}",
                    body.len(),
                    body
                )
                .into_bytes()
            }
            _ => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec(),
        };
        buf.drain(..end);
        if stream.write_all(&response).await.is_err() || close {
            return;
        }
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}
