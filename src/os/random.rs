//! The operating system's random source: the one place latch draws the
//! randomness its ids, tokens, salts and temporary names need.

/// 32 bytes from the operating system's random source (getrandom(2) on
/// Linux). Ids and tokens must be unguessable; if the OS cannot provide
/// randomness there is no safe fallback, so latch stops.
pub fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .expect("the OS random source failed: no unguessable id can be made");
    bytes
}
