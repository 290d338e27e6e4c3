//! Asking Redis Sentinel where the primary is, as its client guide says
//! (redis.io, "Sentinel client spec"): ask the Sentinels of the URL in
//! turn, take the first address one names (`SENTINEL
//! GET-MASTER-ADDR-BY-NAME`), and trust it only once the server there
//! says it is a primary (`link::Link::is_primary`). latch asks again after
//! any connection trouble (`connection`), so it needs no subscription to
//! Sentinel's `+switch-master` messages: the first request after a
//! failover finds the new primary.
//!
//! Sentinels are asked without the URL's credentials, which are the data
//! servers': keep them on the private network, one per data host.

use super::link::ask;
use super::url::Sentinels;
use crate::sessions::stored::{StoreError, Survey};

/// The primary's host and port, as the first Sentinel that knows it says.
pub(super) async fn primary(sentinels: &Sentinels) -> Result<(String, u16), StoreError> {
    let mut asked = Vec::new();
    for addr in &sentinels.addrs {
        let mut question = redis::cmd("SENTINEL");
        question
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&sentinels.service);
        match ask(addr.clone(), &question).await {
            Ok(Some(primary)) => return Ok(primary),
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
        let mut question = redis::cmd("SENTINEL");
        question.arg("CKQUORUM").arg(&sentinels.service);
        match ask::<String>(addr.clone(), &question).await {
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
    if !able.is_empty() && !unable.is_empty() {
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
