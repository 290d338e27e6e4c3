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
//! The first line of each declares what it does (Redis 7.0 and later):
//! a plain `#!lua` may write, so Redis refuses it whole, before it starts,
//! when memory is full (`-OOM`); `allow-oom` on the ones a logout needs
//! (deleting, advancing an epoch), so a logout works even then; `no-writes`
//! on the read. (Redis 7.0 checks a script without that line loosely, and
//! would let it through at the memory limit.)

use std::sync::LazyLock;

use redis::Script;

/// A script, hashed once, at its first use (`EVALSHA` sends the hash).
macro_rules! lua {
    ($source:literal) => {
        LazyLock::new(|| Script::new($source))
    };
}

/// The session writes, all plain `#!lua`: Redis refuses each whole when
/// memory is full, so one that ran (whatever it returned) means Redis had
/// room for it (`connection::note_room`).
pub const SESSION_WRITES: [&str; 3] = ["CREATE", "SWAP", "MOVE"];

/// Stores a new session unless the store is full, counted as `count`
/// counts (`DBSIZE`). KEYS: the session key. ARGV: the value, its deadline
/// (ms), the most keys (0: no cap). Returns 1 stored, 0 full, -1 the key
/// exists (an id drawn twice).
pub static CREATE: LazyLock<Script> = lua!(
    r"#!lua
local cap = tonumber(ARGV[3])
if cap > 0 and redis.call('DBSIZE') >= cap then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'NX') then return -1 end
return 1
"
);

/// Compare-and-set: replaces the session only if it still holds the bytes
/// read. KEYS: the session key. ARGV: the bytes read, the new bytes, the
/// new deadline (ms). Returns 1 written, 0 changed or gone since it was
/// read.
pub static SWAP: LazyLock<Script> = lua!(
    r"#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return 1
"
);

/// Compare-and-move: the session's new data goes under a new key and the
/// old key is deleted, in one step, only if the old key still holds the
/// bytes read. KEYS: the old key, the new key. ARGV: the bytes read, the
/// new bytes, the deadline (ms). Returns 1 moved, 0 changed or gone, -1 the
/// new key exists.
pub static MOVE: LazyLock<Script> = lua!(
    r"#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if not redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[3], 'NX') then return -1 end
redis.call('DEL', KEYS[1])
return 1
"
);

/// Compare-and-delete. KEYS: the session key. ARGV: the bytes read.
/// Returns 1 deleted, 0 changed or gone. Allowed at the memory limit (it
/// only frees memory): a logout that cannot move the session (`-OOM`) can
/// still end it with this.
pub static DROP: LazyLock<Script> = lua!(
    r"#!lua flags=allow-oom
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"
);

/// Advances a user's epoch. KEYS: the epoch key. Returns the new epoch.
/// Allowed at the memory limit: "sign out everywhere" must work even when
/// Redis is full (a few bytes past `maxmemory`, once per use).
pub static BUMP: LazyLock<Script> = lua!(
    r"#!lua flags=allow-oom
return redis.call('INCR', KEYS[1])
"
);

/// A session and its user's epoch in one round trip: a signed-in request
/// needs both. KEYS: the session key. ARGV: the epoch key prefix.
/// Returns nil for no session, else `{value, epoch}` (epoch "0" when the
/// value names no user). The user name is read from `data._auth_user`,
/// as `Record::user` reads it, and spelled in hex as `keys::epoch_key`
/// does. (The epoch key is not in KEYS: fine on one primary, which is
/// what latch supports; Redis Cluster could not run this.)
pub static READ_WITH_EPOCH: LazyLock<Script> = lua!(
    r"#!lua flags=no-writes
local value = redis.call('GET', KEYS[1])
if not value then return false end
local ok, doc = pcall(cjson.decode, value)
local user = ok and type(doc) == 'table' and type(doc.data) == 'table' and doc.data._auth_user
if type(user) ~= 'string' then return {value, '0'} end
local hex = user:gsub('.', function(c) return string.format('%02x', c:byte()) end)
return {value, redis.call('GET', ARGV[1] .. hex) or '0'}
"
);

/// Notes a new sign-in in its user's index and ends the user's oldest
/// sign-ins past a number. KEYS: the user's index (a sorted set of session
/// key hashes by sign-in time). ARGV: the new session's member, its sign-in
/// time (ms), how many to keep, the user name, the new session's deadline
/// (ms), the session key prefix. An indexed session that no longer holds
/// this user's sign-in (signed out, moved, expired) is dropped from the
/// index first; then, oldest first, sessions past the number are deleted.
/// The index lives as long as its newest session. Returns how many
/// sessions it ended.
pub static KEEP_NEWEST: LazyLock<Script> = lua!(
    r"#!lua
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local keep, ended = tonumber(ARGV[3]), 0
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
if #members > keep then
  local live = {}
  for _, member in ipairs(members) do
    local value = redis.call('GET', ARGV[6] .. member)
    local ok, doc = pcall(cjson.decode, value or '')
    if ok and type(doc) == 'table' and type(doc.data) == 'table'
        and doc.data._auth_user == ARGV[4] then
      live[#live + 1] = member
    else
      redis.call('ZREM', KEYS[1], member)
    end
  end
  for i = 1, #live - keep do
    redis.call('DEL', ARGV[6] .. live[i])
    redis.call('ZREM', KEYS[1], live[i])
    ended = ended + 1
  end
end
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[5])
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[5], 'GT')
end
return ended
"
);

/// One attempt on every counter in KEYS, paced as `sessions::pace`
/// explains (GCRA), by the server's clock, so every instance agrees.
/// ARGV: for each key, its interval (ms), burst, longest wait (ms), and
/// 1 if an admitted attempt counts on it now (0: only checked). Returns
/// `{1, 0, wait ms}` admitted (the counting counters' TATs stored, each
/// expiring when it is reached), or `{0, the refusing key's index from 1,
/// wait ms}`, and then nothing is written.
pub static PACE: LazyLock<Script> = lua!(
    r"#!lua
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local tats, longest = {}, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[4 * i - 3])
  local burst, max_wait = tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i - 1])
  local tat = math.max(tonumber(redis.call('GET', key) or '0'), now) + interval
  local wait = tat - burst * interval - now
  if wait > max_wait then return {0, i, wait} end
  tats[i] = tat
  if wait > longest then longest = wait end
end
for i, key in ipairs(KEYS) do
  if ARGV[4 * i] == '1' then
    redis.call('SET', key, string.format('%d', tats[i]), 'PXAT', string.format('%d', tats[i]))
  end
end
return {1, 0, longest}
"
);
