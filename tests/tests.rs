//! latch's integration tests: one binary, one module per area (ripgrep's
//! `tests/tests.rs`). Each starts the real `latch` binary, or opens the
//! real store, through `support`; nothing is mocked.
//!
//! The wire tests of login, logout, sessions and expiry run on both session
//! backends (`support::on_both_backends!`): `logout::files::…` on the file
//! store, `logout::redis::…` on a Redis of each test's own.
//!
//! Run one area with `cargo test --test tests logout::`. Tests that need a
//! program from the system (redis-server, chromium, nginx) or root say so
//! in their `#[ignore = "needs …"]`; `.ci/run` runs them with
//! `-- --ignored`, and `cargo test --test tests -- --ignored ::redis::`
//! runs the Redis half of the wire tests and of the store contract.

/// The launcher (`Server`, on either backend), the raw HTTP client
/// (`Response`), the fixtures (`ALICE`, `BOB`, `UsersFile`), and a
/// `redis-server` of the test's own.
mod support;

// The store, below HTTP.

/// SIGKILL, a full disk, a read-only one: what the files keep.
mod crash_safety;
/// What only the file backend can get wrong: names, modes, lock, reserve.
mod file_store;
/// The Redis backend's own promises, against a real redis-server.
mod redis_store;
/// The session store contract, written once and run on each backend.
mod store_contract;
/// The file store when its directory is not what it should be.
mod store_faults;

// The contract over the wire, route by route.

/// Absolute and idle expiry on both backends, and the file store's
/// sweeper.
mod expiry;
/// What one client can cost everyone else.
mod fair_use;
/// Bodies, media types and values the forms refuse.
mod limits;
/// `POST /login` and `/account`, on both backends.
mod login;
/// `POST /logout`, one test per step of docs/contract.md's "Logout", on
/// both backends.
mod logout;
/// Error pages, the signed-out notice, the account page's controls.
mod pages;
/// Paths, methods, `OPTIONS`, `HEAD`, several requests on one connection.
mod routing;
/// Anonymous sessions per address and `--max-sessions`.
mod session_bounds;
/// Session cookies, records and the theme form, on both backends but for
/// the file store's own files.
mod sessions;
/// `GET /healthz` over raw HTTP: the first thing to break.
mod smoke;
/// Static files: types, validators, conditional requests, containment.
mod static_files;
/// The login throttle.
mod throttle;

// Connections and bytes.

/// Every connection is bounded in time; HTTP/1.x only.
mod connections;
/// How many connections, in all and per address.
mod connections_limits;
/// SIGHUP and SIGTERM.
mod connections_signals;
/// Inputs the fuzz targets found, kept as tests.
mod fuzz_regressions;
/// Malformed and ambiguous requests.
mod hostile_input;
/// Properties of the pure parsers and rules (proptest).
mod properties;

// What the operator sees and runs.

/// The command line: flags, help, `check`, password prompts.
mod cli;
/// The numbers and commands the docs give, held to the code, the build and
/// each other.
mod docs;
/// `src/lib.rs`'s order of modules and no cycle in `src/`: the first page
/// tells the truth.
mod layers;
/// The access and audit lines on standard error.
mod observability;
/// README.md's commands, run as written.
mod readme;
/// `--trace` tables (the variable tracker, the disk steps), the summary,
/// and `/_trace` on the wire (the browser view is in `browser`).
mod trace;
/// `adduser`, `deluser`, bcrypt, the first-run admin.
mod users_cli;
/// The users file, line by line, and a server that follows it.
mod users_file;
/// `cargo test` without root: the suite again as uid 65534, and README's
/// count of the ignored tests.
mod without_root;

// Several processes.

/// Headless Chromium: sign in, sign out, Back; `/_trace` and its screenshots.
mod browser;
/// nginx in front of two instances.
mod load_balancer;
/// Replicas and Sentinel: a failover undoes no answered sign-out.
mod redis_failover;
/// Two instances on one Redis.
mod redis_instances;
