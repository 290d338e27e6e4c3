//! The Lua scripts behind every write. Redis runs a script alone (no other
//! command runs in the middle of it) and logs its writes to the AOF as one
//! `MULTI`/`EXEC` block, which a crash keeps or drops whole: each script
//! below is one atomic step, in memory and on disk.
//!
//! Every write to an existing session first compares the stored bytes with
//! the bytes the caller read, and writes only if they are still the same
//! (compare-and-set). A session that is gone (a logout, an expiry) is
//! never equal to anything read before, so it is never written back.
//!
//! The scripts run by `EVALSHA`; after a Redis restart has forgotten them
//! the client library sends them again (`NOSCRIPT`, then `EVAL`).
//!
//! The first line of each declares what it does (Redis 7.0 and later, as
//! `SET … PXAT` needs 6.2): a plain `#!lua` may write, so Redis refuses it
//! whole, before it starts, when memory is full (`-OOM`); `allow-oom` on the
//! ones a logout needs (deleting, advancing an epoch), so a logout works
//! even then; `no-writes` on the read. (A script without that line would be let through at the memory
//! limit: Redis 7.0 checks such legacy scripts loosely.)

use std::sync::LazyLock;

use redis::Script;

/// The session writes, all plain `#!lua`: Redis refuses each whole when
/// memory is full, so one that ran (whatever it returned) means Redis had
/// room for it (`connection::note_room`).
pub const SESSION_WRITES: [&str; 3] = ["CREATE", "SWAP", "MOVE"];

/// Stores a new session unless the store is full.
/// KEYS: the session key, the live index. ARGV: the value, its deadline
/// (ms), its index member, now (ms), the most live sessions (0: no cap).
/// Returns 1 stored, 0 full, -1 the key exists (an id drawn twice).
pub static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua
local cap = tonumber(ARGV[5])
if cap > 0 and redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[4], '+inf') >= cap then
  return 0
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'NX') then return -1 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, 100)
if #stale > 0 then redis.call('ZREM', KEYS[2], unpack(stale)) end
return 1
",
    )
});

/// Compare-and-set: replaces the session only if it still holds the bytes
/// read. KEYS: the session key, the live index. ARGV: the bytes read, the
/// new bytes, the new deadline (ms), the index member.
/// Returns 1 written, 0 changed or gone since it was read.
pub static SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
",
    )
});

/// Compare-and-move: the session's new data goes under a new key and the
/// old key is deleted, in one step, only if the old key still holds the
/// bytes read. KEYS: the old key, the new key, the live index. ARGV: the
/// bytes read, the new bytes, the deadline (ms), the old member, the new
/// member. Returns 1 moved, 0 changed or gone, -1 the new key exists.
pub static MOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if not redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[3], 'NX') then return -1 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[5])
return 1
",
    )
});

/// Compare-and-delete. KEYS: the session key, the live index. ARGV: the
/// bytes read, the index member. Returns 1 deleted, 0 changed or gone.
/// Allowed at the memory limit (it only frees memory): a logout that cannot
/// move the session (`-OOM`) can still end it with this.
pub static DROP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=allow-oom
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
",
    )
});

/// Deletes a session, whatever it holds. KEYS: the session key, the live
/// index. ARGV: the index member. Returns how many keys it deleted (0 or
/// 1). Allowed at the memory limit, as `DROP` (a `MULTI` block would not
/// be: Redis refuses every queued command then).
pub static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=allow-oom
local deleted = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return deleted
",
    )
});

/// Advances a user's epoch. KEYS: the epoch key. Returns the new epoch.
/// Allowed at the memory limit: "sign out everywhere" must work even when
/// Redis is full (a few bytes past `maxmemory`, once per use).
pub static BUMP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=allow-oom
return redis.call('INCR', KEYS[1])
",
    )
});

/// A session and its user's epoch in one round trip: a signed-in request
/// needs both. KEYS: the session key. ARGV: the epoch key prefix.
/// Returns `{}` for no session, else `{value, epoch}` (epoch "0" when the
/// value names no user). The user name is read from `data._auth_user`,
/// as `Record::user` reads it, and spelled in hex as `keys::epoch_key`
/// does. (The epoch key is not in KEYS: fine on one primary, which is
/// what latch supports; Redis Cluster could not run this.)
pub static READ_WITH_EPOCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=no-writes
local value = redis.call('GET', KEYS[1])
if not value then return {} end
local ok, doc = pcall(cjson.decode, value)
local user = ok and type(doc) == 'table' and type(doc.data) == 'table' and doc.data._auth_user
if type(user) ~= 'string' then return {value, '0'} end
local hex = user:gsub('.', function(c) return string.format('%02x', c:byte()) end)
return {value, redis.call('GET', ARGV[1] .. hex) or '0'}
",
    )
});

/// Admits and counts one attempt, unless the window's count is spent.
/// KEYS: the counter. ARGV: the limit, the window (ms). Returns
/// `{1, attempts left}` admitted, `{0, ms until the window ends}` refused.
/// The window starts at the first attempt (`PEXPIRE` then) and is not
/// pushed back by later ones.
pub static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua
local limit = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') >= limit then
  return {0, redis.call('PTTL', KEYS[1])}
end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, limit - count}
",
    )
});

/// Gives back one admitted attempt (a success), if the window still holds
/// any: `DECR` keeps the counter's expiry, and a counter that expired is
/// not made again. KEYS: the counter. Returns the attempts still counted.
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"#!lua flags=allow-oom
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
",
    )
});
