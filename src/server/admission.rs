//! Who may hold a connection: at most `--max-connections` at once, and at
//! most a share of them from any one client, so that one address cannot
//! take every slot and lock everyone else out. A refused connection gets a
//! complete 503 it can read before the close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::http::forwarded::client_key;

/// One client may hold at most this fraction of `--max-connections`
/// (and at least one connection): 64 of the default 512.
///
/// A browser opens at most six connections to a host, so 64 lets about
/// ten browsers behind one NAT (an office, a school) load pages at the
/// same moment, while one attacker needs eight addresses to fill the
/// server, and every connection that does no work is closed within
/// `--client-timeout` anyway. The `--trusted-proxy` address is exempt:
/// every client arrives through it.
pub const CLIENT_SHARE_DIVISOR: usize = 8;

/// Refusals being written at once; past this, a refused connection is
/// closed without an answer. Each holds a socket for up to `LINGER`, and a
/// flood of refusals must not run the process out of file descriptors.
const REFUSALS_AT_ONCE: usize = 64;

/// How long a refused connection may keep sending before we close it.
const LINGER: Duration = Duration::from_secs(2);

/// The open connections, in total and by client.
pub struct Admission {
    max_total: usize,
    per_client: usize,
    trusted_proxy: Option<IpAddr>,
    open: Mutex<Open>,
    refusing: Arc<Semaphore>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// A connection's place, given back when the connection ends (on drop).
pub struct Ticket {
    admission: Arc<Admission>,
    /// The client it counts against; `None` for the trusted proxy.
    client: Option<IpAddr>,
}

/// Why a connection was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every one of `--max-connections` is taken.
    Full,
    /// This client holds its whole share already.
    ClientShare,
}

impl Admission {
    pub fn new(max_connections: usize, trusted_proxy: Option<IpAddr>) -> Arc<Admission> {
        Arc::new(Admission {
            max_total: max_connections,
            per_client: (max_connections / CLIENT_SHARE_DIVISOR).max(1),
            trusted_proxy: trusted_proxy.map(|ip| ip.to_canonical()),
            open: Mutex::new(Open::default()),
            refusing: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
        })
    }

    /// Lets a connection from `peer` in, or says why not.
    ///
    /// 1. Past `--max-connections`, no one gets in.
    /// 2. The trusted proxy counts only toward the total.
    /// 3. Anyone else gets in while their client holds less than its share.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Ticket, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // 1.
        if open.total >= self.max_total {
            return Err(Refusal::Full);
        }
        // 2.
        let from_proxy = crate::http::forwarded::is_trusted_proxy(peer, self.trusted_proxy);
        let client = (!from_proxy).then(|| client_key(peer));
        // 3.
        if let Some(client) = client {
            let held = open.by_client.entry(client).or_insert(0);
            if *held >= self.per_client {
                return Err(Refusal::ClientShare);
            }
            *held += 1;
        }
        open.total += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            client,
        })
    }

    /// Answers a refused connection on its own task, unless too many
    /// refusals are under way already (then it is just closed).
    pub fn refuse(&self, stream: TcpStream, why: Refusal) {
        let Ok(permit) = Arc::clone(&self.refusing).try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            answer_503(stream, why).await;
            drop(permit);
        });
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        if let Some(client) = self.client {
            if let Some(held) = open.by_client.get_mut(&client) {
                *held -= 1;
                if *held == 0 {
                    open.by_client.remove(&client);
                }
            }
        }
    }
}

/// Turns a connection away with a complete 503 (RFC 9110 §15.6.4) that the
/// client can read, then closes it.
///
/// 1. Write the answer, with a short deadline: it is ~150 bytes, which an
///    empty socket buffer takes at once.
/// 2. Shut down our side of the connection: the client reads the answer,
///    then end of file.
/// 3. Read and discard what the client sends (its request, most likely)
///    until it closes too, for at most `LINGER`. Closing a socket with
///    unread input makes the kernel send a reset (RFC 1122 §4.2.2.13), and
///    a reset can destroy the answer before the client has read it.
async fn answer_503(mut stream: TcpStream, why: Refusal) {
    let reason = match why {
        Refusal::Full => "503 too many open connections\n",
        Refusal::ClientShare => "503 too many open connections from your address\n",
    };
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{reason}",
        reason.len()
    );
    // 1.
    let written = tokio::time::timeout(LINGER, stream.write_all(answer.as_bytes())).await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    // 2.
    if stream.shutdown().await.is_err() {
        return;
    }
    // 3.
    let _ = tokio::time::timeout(LINGER, discard_until_closed(&mut stream)).await;
}

/// Reads and drops bytes until the peer closes (or the socket fails).
async fn discard_until_closed(stream: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    while let Ok(1..) = stream.read(&mut sink).await {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_client_holds_at_most_its_share_until_a_ticket_is_dropped() {
        let admission = Admission::new(16, None);
        let held: Vec<_> = (0..2)
            .map(|_| admission.admit(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(
            admission.admit(ip("::ffff:10.0.0.1")).err(),
            Some(Refusal::ClientShare)
        );
        assert!(admission.admit(ip("10.0.0.2")).is_ok());
        drop(held);
        assert!(admission.admit(ip("10.0.0.1")).is_ok());
        assert!(admission.open.lock().unwrap().by_client.is_empty());
    }

    #[test]
    fn the_trusted_proxy_counts_only_toward_the_total() {
        let admission = Admission::new(4, Some(ip("10.0.0.9")));
        let held: Vec<_> = (0..4)
            .map(|_| admission.admit(ip("::ffff:10.0.0.9")).unwrap())
            .collect();
        assert_eq!(admission.admit(ip("10.0.0.9")).err(), Some(Refusal::Full));
        assert_eq!(admission.admit(ip("10.0.0.1")).err(), Some(Refusal::Full));
        drop(held);
        assert!(admission.admit(ip("10.0.0.1")).is_ok());
    }
}
