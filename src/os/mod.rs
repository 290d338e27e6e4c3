//! The operating system, where latch touches it directly: durable file
//! replacement (and the group commit of its directory fsyncs), reading a
//! file that may not be one, the few Linux calls std
//! does not name, the random source, and the allocator's tuning.

pub mod atomic_file;
pub mod blocking;
pub mod group_commit;
pub mod memory;
pub mod random;
pub mod regular_file;
pub mod sys;
