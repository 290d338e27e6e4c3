//! Does the server acknowledge a write only once it is on disk, can it
//! never evict a key latch needs, and, with replicas, can a failover never
//! lose a sign-out that replicas confirmed? (docs/contract.md, "The Redis
//! store".)
//!
//! A logout is a write. If Redis acknowledges it and then loses it (a crash
//! before the write reached the disk, a restart from an older snapshot, an
//! eviction, a failover to a replica that never had it), a copied cookie
//! works again, so latch refuses a setup that could lose one, unless the
//! operator says `--redis-durability relaxed`. The question and the
//! judgments are here; when they are made, in `connection` and `replicas`.

use std::collections::HashMap;

use redis::Cmd;

/// The settings a durable server has, and why each matters.
pub const REQUIRED: [(&str, &str, &str); 4] = [
    (
        "appendonly",
        "yes",
        "without the append-only file a restart loads the last snapshot, \
         which can hold sessions signed out since",
    ),
    (
        "appendfsync",
        "always",
        "otherwise Redis acknowledges a write up to a second before it is on disk",
    ),
    (
        "no-appendfsync-on-rewrite",
        "no",
        "otherwise no write is fsynced while a background save or rewrite runs",
    ),
    // `volatile-*` policies would spare the epoch keys (they never expire),
    // but not the session keys (a lost session) nor the throttle counters
    // (a guesser's count reset), which need a TTL; `allkeys-*` could evict
    // an epoch and sign back in every session "sign out everywhere" ended.
    // A `maxmemory 0` server evicts nothing today, but one `CONFIG SET`
    // changes that, so the policy itself is checked.
    (
        "maxmemory-policy",
        "noeviction",
        "any other policy lets Redis drop session, epoch or throttle keys when memory runs short",
    ),
];

/// The setting that makes a primary cut off from its replicas refuse
/// writes (`-NOREPLICAS`) rather than take ones a failover would drop.
pub const MIN_REPLICAS: &str = "min-replicas-to-write";

/// The setting Sentinel promotes by: the lowest first, 0 never.
pub const PRIORITY: &str = "replica-priority";

/// The one question that reads a server's settings, primary or replica:
/// `CONFIG GET` of them all (several names: Redis 7.0 and later). Its
/// answer, `name, value, …` without the names the server does not know,
/// is read as a map.
pub fn config_get() -> Cmd {
    let mut question = redis::cmd("CONFIG");
    question.arg("GET").arg(MIN_REPLICAS).arg(PRIORITY);
    for (name, _, _) in REQUIRED {
        question.arg(name);
    }
    question
}

/// The shortfalls of a primary's settings (as `CONFIG GET` reported
/// them), one sentence each; empty when it is durable and, when sign-outs
/// wait for `replica_acks` replicas, refuses writes without that many.
pub fn shortfalls(settings: &HashMap<String, String>, replica_acks: u32) -> Vec<String> {
    let mut found = durable_shortfalls(settings);
    if replica_acks > 0 {
        let set = settings.get(MIN_REPLICAS);
        // None (not reported, not a number) is below any Some.
        if set.and_then(|v| v.parse().ok()) < Some(replica_acks) {
            let shown = set.map_or("not reported", String::as_str);
            found.push(format!(
                "{MIN_REPLICAS} is {shown:?}, latch needs at least {replica_acks} (as many as \
                 --redis-replica-acks): otherwise a primary cut off from its replicas keeps \
                 taking writes that a failover drops"
            ));
        }
    }
    found
}

/// The four settings of a durable server, judged.
fn durable_shortfalls(settings: &HashMap<String, String>) -> Vec<String> {
    REQUIRED
        .iter()
        .filter_map(|&(name, needed, why)| match settings.get(name) {
            Some(found) if found.eq_ignore_ascii_case(needed) => None,
            Some(found) => Some(format!(
                "{name} is {found:?}, latch needs {needed:?}: {why}"
            )),
            None => Some(format!(
                "the server does not report {name} (latch needs {needed:?}: {why})"
            )),
        })
        .collect()
}

/// The settings of a durable server, as the log and `latch check` say
/// them: `appendonly yes, appendfsync always, …`.
pub fn durable() -> String {
    REQUIRED
        .map(|(name, needed, _)| format!("{name} {needed}"))
        .join(", ")
}

/// The sentence for a server whose settings cannot be read: `CONFIG` is
/// renamed or disabled (`rename-command CONFIG ""`, a managed service) or
/// refused by an ACL.
pub fn unverifiable(why: &str) -> String {
    format!(
        "its settings cannot be read (CONFIG GET refused: {why}), so latch cannot verify {}",
        durable()
    )
}

/// A replica as its primary lists it (`INFO replication`): where it
/// listens, and whether its link is up (`state=online`).
#[derive(Debug, PartialEq, Eq)]
pub struct Listed {
    pub host: String,
    pub port: u16,
    pub online: bool,
}

/// The replicas in a primary's `INFO replication`, from its lines
/// `slave0:ip=10.0.0.6,port=6379,state=online,offset=…,lag=0`.
pub fn listed_replicas(info: &str) -> Vec<Listed> {
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.trim_end().split_once(':')?;
            let n = name.strip_prefix("slave")?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            };
            Some(Listed {
                host: field("ip")?.to_owned(),
                port: field("port")?.parse().ok()?,
                online: field("state") == Some("online"),
            })
        })
        .collect()
}

/// What one replica's settings were (`CONFIG GET`), or why they could not
/// be read.
pub struct Replica {
    pub addr: String,
    pub settings: Result<HashMap<String, String>, String>,
}

/// Can `replica_acks` confirmations keep a sign-out across a failover?
/// Only if that many replicas are `online`, each is durable itself (each is
/// a future primary), and Sentinel promotes by replication offset alone,
/// which holds when every replica has the same, nonzero priority: then it
/// promotes one that has every write another one confirmed. Returns the
/// line saying what is fine, and the shortfalls.
pub fn replica_shortfalls(
    replica_acks: u32,
    online: usize,
    replicas: &[Replica],
) -> (String, Vec<String>) {
    let mut found = Vec::new();
    if online < replica_acks as usize {
        found.push(format!(
            "{online} replica(s) online (INFO replication), fewer than the {replica_acks} \
             a sign-out waits for (--redis-replica-acks): every sign-out would get 503"
        ));
    }
    let mut priorities = Vec::new();
    for replica in replicas {
        let addr = &replica.addr;
        match &replica.settings {
            Err(why) => found.push(format!(
                "replica {addr}: its settings cannot be read ({why}), so it cannot be shown \
                 durable, and it may become the primary"
            )),
            Ok(settings) => {
                for shortfall in durable_shortfalls(settings) {
                    found.push(format!(
                        "replica {addr}: {shortfall} (a replica becomes the primary at a failover)"
                    ));
                }
                match settings.get(PRIORITY).map(String::as_str) {
                    Some("0") => found.push(format!(
                        "replica {addr}: {PRIORITY} is 0: Sentinel never promotes it, yet its \
                         confirmation counts, so the one promoted may lack a sign-out"
                    )),
                    Some(priority) => priorities.push((addr, priority)),
                    None => found.push(format!("replica {addr}: does not report {PRIORITY}")),
                }
            }
        }
    }
    if priorities.windows(2).any(|pair| pair[0].1 != pair[1].1) {
        let each: Vec<String> = priorities.iter().map(|(a, p)| format!("{a} {p}")).collect();
        found.push(format!(
            "the replicas' {PRIORITY} differ ({}): Sentinel promotes the lowest even when \
             another one has a sign-out it lacks; give them all the same",
            each.join(", ")
        ));
    }
    let fine = format!(
        "a sign-out waits for {replica_acks} of {online} replica(s) online, each durable, \
         {PRIORITY} {}",
        priorities.first().map_or("-", |&(_, priority)| priority)
    );
    (fine, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A durable server's settings, `changed` as given.
    fn durable_but(changed: &[(&str, &str)]) -> HashMap<String, String> {
        let mut settings: HashMap<String, String> = REQUIRED
            .iter()
            .map(|&(name, needed, _)| (name.to_owned(), needed.to_owned()))
            .collect();
        for &(name, value) in changed {
            settings.insert(name.to_owned(), value.to_owned());
        }
        settings
    }

    #[test]
    fn a_primary_is_judged_by_each_setting_and_named_for_each_shortfall() {
        assert!(shortfalls(&durable_but(&[]), 0).is_empty());
        let found = shortfalls(&durable_but(&[]), 1);
        assert!(found[0].starts_with("min-replicas-to-write is \"not reported\""));
        let guarded = durable_but(&[(MIN_REPLICAS, "1")]);
        assert!(shortfalls(&guarded, 1).is_empty());
        assert_eq!(shortfalls(&guarded, 2).len(), 1);

        let debian = durable_but(&[
            ("appendonly", "no"),
            ("appendfsync", "everysec"),
            ("maxmemory-policy", "allkeys-lru"),
        ]);
        let found = shortfalls(&debian, 0);
        assert_eq!(found.len(), 3);
        assert!(found[0].starts_with("appendonly is \"no\""));
        assert!(found[1].starts_with("appendfsync is \"everysec\""));
        assert!(found[2].starts_with("maxmemory-policy is \"allkeys-lru\""));
        assert!(shortfalls(&HashMap::new(), 0)[3].contains("does not report maxmemory-policy"));
    }

    #[test]
    fn replicas_are_read_from_info_replication() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
            slave0:ip=10.0.0.6,port=6379,state=online,offset=5,lag=0\r\n\
            slave1:ip=10.0.0.7,port=6380,state=wait_bgsave,offset=0,lag=1\r\n\
            master_replid:abc\r\n";
        let replica = |host: &str, port, online| Listed {
            host: host.into(),
            port,
            online,
        };
        assert_eq!(
            listed_replicas(info),
            [
                replica("10.0.0.6", 6379, true),
                replica("10.0.0.7", 6380, false)
            ]
        );
    }

    #[test]
    fn replicas_must_be_online_durable_and_equal_in_priority() {
        let replica = |addr: &str, settings| Replica {
            addr: addr.into(),
            settings,
        };
        let priority = |p| Ok(durable_but(&[(PRIORITY, p)]));
        let good = [replica("a", priority("100")), replica("b", priority("100"))];
        let (fine, found) = replica_shortfalls(1, 2, &good);
        assert!(found.is_empty(), "{found:?}");
        assert!(
            fine.contains("1 of 2 replica(s) online") && fine.ends_with("100"),
            "{fine}"
        );

        let (_, found) = replica_shortfalls(2, 1, &good);
        assert!(found[0].starts_with("1 replica(s) online"), "{found:?}");

        let bad = [
            replica("a", priority("100")),
            replica("b", priority("50")),
            replica("c", priority("0")),
            replica(
                "d",
                Ok(durable_but(&[(PRIORITY, "100"), ("appendonly", "no")])),
            ),
            replica("e", Err("NOPERM".into())),
        ];
        let (_, found) = replica_shortfalls(1, 1, &bad);
        let said = |start: &str| found.iter().any(|f| f.starts_with(start));
        assert!(said("replica c: replica-priority is 0"), "{found:?}");
        assert!(said("replica d: appendonly is \"no\""), "{found:?}");
        assert!(
            said("replica e: its settings cannot be read (NOPERM)"),
            "{found:?}"
        );
        assert!(
            said("the replicas' replica-priority differ (a 100, b 50, d 100)"),
            "{found:?}"
        );
    }
}
