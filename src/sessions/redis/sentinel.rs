//! Asking Redis Sentinel where the primary is, as its client guide says
//! (redis.io, "Sentinel client spec"): ask the Sentinels of the URL in
//! turn, take the first address one names (`SENTINEL
//! GET-MASTER-ADDR-BY-NAME`), and trust it only once the server there
//! says it is a primary (`ROLE`, in `connection`): during a failover a
//! Sentinel may still name the old one. latch asks again after any
//! connection trouble (`connection`), so it needs no subscription to
//! Sentinel's `+switch-master` messages: the first request after a
//! failover finds the new primary.
//!
//! Sentinels are asked without the URL's credentials, which are the data
//! servers': keep them on the private network, one per data host.

use redis::{Client, Cmd, ConnectionAddr, FromRedisValue};

use super::durability::Survey;
use super::error;
use super::link::{connection_of, COMMAND_TIMEOUT};
use super::url::Sentinels;
use crate::sessions::stored::StoreError;

/// The primary's address, as the first Sentinel that knows it says.
pub(super) async fn primary(sentinels: &Sentinels) -> Result<ConnectionAddr, StoreError> {
    let mut asked = Vec::new();
    for addr in &sentinels.addrs {
        let mut ask = redis::cmd("SENTINEL");
        ask.arg("GET-MASTER-ADDR-BY-NAME").arg(&sentinels.service);
        match ask_one::<Option<(String, u16)>>(addr, &ask).await {
            Ok(Some((host, port))) => return Ok(ConnectionAddr::Tcp(host, port)),
            Ok(None) => asked.push(format!("{addr}: does not know {}", sentinels.service)),
            Err(e) => asked.push(format!("{addr}: {e}")),
        }
    }
    Err(StoreError::Unavailable(format!(
        "Redis is unavailable: no Sentinel named the primary of {} ({})",
        sentinels.service,
        asked.join("; ")
    )))
}

/// What `latch check` says of the Sentinels: whether each can authorize a
/// failover (`SENTINEL CKQUORUM`: enough of them reachable for the
/// quorum and a majority); a shortfall when none can. And a shortfall when
/// no sign-out waits for a replica: a failover may then lose one.
pub(super) async fn survey(sentinels: &Sentinels, replica_acks: u32, survey: &mut Survey) {
    let mut able = Vec::new();
    let mut unable = Vec::new();
    for addr in &sentinels.addrs {
        let mut ask = redis::cmd("SENTINEL");
        ask.arg("CKQUORUM").arg(&sentinels.service);
        match ask_one::<String>(addr, &ask).await {
            Ok(answer) => able.push(format!("{addr}: {answer}")),
            Err(e) => unable.push(format!("{addr}: {e}")),
        }
    }
    let count = sentinels.addrs.len();
    match able.first() {
        Some(first) => survey.fine.push(format!(
            "Sentinels: {} of {count} can authorize a failover ({first})",
            able.len()
        )),
        None => survey.shortfalls.push(format!(
            "no Sentinel of {count} can authorize a failover of {} ({})",
            sentinels.service,
            unable.join("; ")
        )),
    }
    if let (Some(_), false) = (able.first(), unable.is_empty()) {
        survey
            .fine
            .push(format!("Sentinels that cannot: {}", unable.join("; ")));
    }
    if replica_acks == 0 {
        survey.shortfalls.push(
            "--redis-replica-acks is 0: a failover promotes a replica that may lack the last \
             sign-outs, and a copied cookie would work again (latch needs at least 1 with \
             Sentinel)"
                .to_owned(),
        );
    }
}

/// One question to one Sentinel, on a connection of its own, bounded. A
/// refusal (`-NOQUORUM …`, an unknown service) is the Sentinel's answer, in
/// its words.
async fn ask_one<T: FromRedisValue>(addr: &ConnectionAddr, ask: &Cmd) -> Result<T, StoreError> {
    let exchange = async {
        let mut conn = connection_of(&Client::open(addr.clone())?).await?;
        ask.query_async(&mut conn).await
    };
    match tokio::time::timeout(COMMAND_TIMEOUT, exchange).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) if e.code().is_some() => Err(StoreError::Failed(e.to_string())),
        Ok(Err(e)) => Err(error::from_redis(e)),
        Err(_) => Err(error::no_answer(&format!("Sentinel {addr}"))),
    }
}
