//! Who may hold a connection (docs/contract.md, "Limits and bad input"): at
//! most `--max-connections` at once and a share of them per client, so one
//! address cannot take every slot, nor a few addresses holding idle
//! connections keep a newcomer out (`Admission::admit`). A refused
//! connection gets a complete 503 it can read before the close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

use crate::http::forwarded::{client_key, is_trusted_proxy};

/// One client may hold at most this fraction of `--max-connections`
/// (and at least one connection): 128 of the default 512, so a classroom
/// of 40 browsers behind one NAT, each keeping two or so alive, loads pages
/// at once. The `--trusted-proxy` address is exempt: every client arrives
/// through it.
pub const CLIENT_SHARE_DIVISOR: usize = 4;

/// How many connections past `--max-connections` may be open while the
/// ones asked to close are closing (a busy one finishes its request
/// first): the file descriptors stay bounded.
const OVERSHOOT_DIVISOR: usize = 8;

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
    /// Woken when the last connection closes (graceful shutdown waits).
    emptied: Notify,
    refusing: Arc<Semaphore>,
}

#[derive(Default)]
struct Open {
    total: usize,
    /// Each client's connections, oldest first: how to ask each to close.
    by_client: HashMap<IpAddr, Vec<Arc<Notify>>>,
}

/// A connection's place, given back when the connection ends (on drop).
pub struct Ticket {
    admission: Arc<Admission>,
    /// The client it counts against; `None` for the trusted proxy.
    client: Option<IpAddr>,
    /// Notified when the connection should close to make room.
    close: Arc<Notify>,
}

/// Why a connection was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every one of `--max-connections` is taken, by clients holding no
    /// more than this one.
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
            emptied: Notify::new(),
            refusing: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
        })
    }

    /// Lets a connection from `peer` in, or says why not.
    ///
    /// 1. The trusted proxy counts only toward the total.
    /// 2. Anyone else gets in while their client holds less than its share.
    /// 3. When every slot is taken, the client holding the most
    ///    connections, if it holds at least two more than this one, is
    ///    asked to close its oldest, and this one gets in meanwhile (up to
    ///    an overshoot of an eighth). Otherwise no one gets in.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Ticket, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // 1.
        let from_proxy = is_trusted_proxy(peer, self.trusted_proxy);
        let client = (!from_proxy).then(|| client_key(peer));
        // 2.
        let held = client.map_or(0, |c| open.by_client.get(&c).map_or(0, Vec::len));
        if client.is_some() && held >= self.per_client {
            return Err(Refusal::ClientShare);
        }
        // 3.
        if open.total >= self.max_total {
            let overshoot = (self.max_total / OVERSHOOT_DIVISOR).max(1);
            let room = open.total < self.max_total + overshoot && client.is_some();
            let heaviest = open.by_client.values_mut().max_by_key(|conns| conns.len());
            match heaviest {
                Some(conns) if room && conns.len() >= held + 2 => {
                    conns.remove(0).notify_one();
                }
                _ => return Err(Refusal::Full),
            }
        }
        let close = Arc::new(Notify::new());
        if let Some(client) = client {
            open.by_client
                .entry(client)
                .or_default()
                .push(Arc::clone(&close));
        }
        open.total += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            client,
            close,
        })
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// Resolves once no connection is open (for a graceful shutdown).
    pub async fn all_closed(&self) {
        loop {
            let emptied = self.emptied.notified();
            tokio::pin!(emptied);
            emptied.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            emptied.await;
        }
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

impl Ticket {
    /// Resolves when this connection is asked to close to make room.
    pub async fn close_requested(&self) {
        self.close.notified().await;
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
            if let Some(conns) = open.by_client.get_mut(&client) {
                conns.retain(|close| !Arc::ptr_eq(close, &self.close));
                if conns.is_empty() {
                    open.by_client.remove(&client);
                }
            }
        }
        if open.total == 0 {
            self.admission.emptied.notify_waiters();
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
    let mut sink = [0u8; 4096];
    let discard = async { while let Ok(1..) = stream.read(&mut sink).await {} };
    let _ = tokio::time::timeout(LINGER, discard).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_client_holds_at_most_its_share_until_a_ticket_is_dropped() {
        let admission = Admission::new(8, None);
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
    fn when_full_a_newcomer_gets_in_and_the_heaviest_client_is_asked_to_close_its_oldest() {
        let admission = Admission::new(8, None);
        let heavy: Vec<_> = (0..2)
            .flat_map(|i| {
                let peer = ip(&format!("10.0.0.{}", i + 1));
                (0..2)
                    .map(|_| admission.admit(peer).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        let light: Vec<_> = (3..7)
            .map(|i| admission.admit(ip(&format!("10.0.0.{i}"))).unwrap())
            .collect();
        assert_eq!(admission.open(), 8);
        let newcomer = admission.admit(ip("10.0.0.9")).unwrap();
        assert_eq!(admission.open(), 9, "in, while the oldest closes");
        let asked = heavy
            .iter()
            .filter(|t| {
                let notified = t.close.notified();
                tokio::pin!(notified);
                // A stored permit makes the future ready at once.
                notified
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
                    .is_ready()
            })
            .count();
        assert_eq!(asked, 1);
        // Clients holding one each cannot push one another out.
        assert_eq!(admission.admit(ip("10.0.0.3")).err(), Some(Refusal::Full));
        drop((heavy, light, newcomer));
        assert_eq!(admission.open(), 0);
    }

    #[test]
    fn the_trusted_proxy_counts_only_toward_the_total_and_is_never_asked_to_close() {
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
