//! Password hashes: which ones latch accepts, checking a password against
//! one, and making new ones.
//!
//! Accepted: argon2id PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`,
//! what `latch adduser` writes) and bcrypt (`$2y$`, what `htpasswd -B`
//! writes; `$2b$`, OpenBSD's and Python's; `$2a$`, which Spring Security and
//! older libraries write and the bcrypt crate checks exactly as `$2b$`. A
//! `$2a$` hash made by crypt_blowfish before 1.1 from a password with 8-bit
//! characters (CVE-2011-2483) will not match: that fails closed).
//!
//! Every hash is a cost the server pays on each failed login for *any* name
//! (see `timing`), so a hash whose single check would take more than about
//! a second here is refused like an unsupported scheme, with the limit named.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::os::random::random_32;

/// The highest bcrypt cost accepted. Each step doubles the work: cost 12
/// took 0.3 s per check on the machine latch was measured on, so 14 is
/// about 1.2 s. `htpasswd -B` writes 5 unless told otherwise (`-C`).
const MAX_BCRYPT_COST: u32 = 14;
/// The memory all password checks may hold at once, in MiB: what the
/// shipped service unit (`MemoryMax=128M`) leaves beside latch's own few
/// MiB, with room to spare. Checks run one per core at most, and fewer
/// when their hashes are costly (`auth::password`).
pub const HASHING_BUDGET_MIB: u32 = 64;
/// The most memory one argon2id check may take, in KiB: the whole hashing
/// budget (64 MiB, what argon2-cffi writes by default). A costlier hash
/// could not be checked at all within the budget, so its line is refused
/// (Django's argon2 hasher uses 100 MiB: rehash such users with `latch
/// adduser`).
const MAX_ARGON2_MEMORY_KIB: u32 = HASHING_BUDGET_MIB * 1024;
/// The most argon2id work, memory × passes in KiB (1 GiB·pass, about 0.8 s
/// here; `DEFAULT_KIND` is 38 MiB·pass).
const MAX_ARGON2_WORK_KIB: u64 = 1024 * 1024;
/// What a bcrypt check holds (its state is 4 KiB).
const BCRYPT_MEMORY_KIB: u32 = 4;

/// What a hash costs to check: its scheme and parameters, without salt or
/// digest. Two hashes of the same kind take the same time to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Argon2id {
        version: u32,
        memory_kib: u32,
        passes: u32,
        lanes: u32,
        output_len: usize,
    },
    Bcrypt {
        cost: u32,
    },
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Argon2id {
                memory_kib,
                passes,
                lanes,
                ..
            } => write!(f, "argon2id m={memory_kib} KiB, t={passes}, p={lanes}"),
            Kind::Bcrypt { cost } => write!(f, "bcrypt cost {cost}"),
        }
    }
}

impl Kind {
    /// The memory one check of this kind holds, in KiB.
    pub fn memory_kib(&self) -> u32 {
        match self {
            Kind::Argon2id { memory_kib, .. } => *memory_kib,
            Kind::Bcrypt { .. } => BCRYPT_MEMORY_KIB,
        }
    }

    /// The work of one check, in its scheme's unit (so only kinds of one
    /// scheme compare): argon2's is its memory times its passes (RFC 9106
    /// §3.2, one pass fills every block once; the lanes only split it),
    /// bcrypt's doubles with each cost step (2^cost key expansions).
    pub fn work(&self) -> f64 {
        match self {
            Kind::Argon2id {
                memory_kib, passes, ..
            } => f64::from(*memory_kib) * f64::from(*passes),
            Kind::Bcrypt { cost } => 2f64.powi(*cost as i32),
        }
    }
}

/// The kind `hash_password` writes: argon2id with 19 MiB of memory, 2
/// passes, 1 lane, OWASP's Password Storage Cheat Sheet minimum. About
/// 30 ms on one core of this machine; a Raspberry Pi 4 takes about 4x that.
pub const DEFAULT_KIND: Kind = Kind::Argon2id {
    version: 0x13,
    memory_kib: 19 * 1024,
    passes: 2,
    lanes: 1,
    output_len: 32,
};

/// The kind of a hash latch can check, or why it cannot: an unsupported
/// scheme, a malformed string, a cost past the limits above. The reason
/// names the scheme by its fixed prefix, never by the hash's own
/// characters (a "hash" may be a plain-text password).
pub fn recognize(hash: &str) -> Result<Kind, String> {
    if hash.starts_with("$argon2id$") {
        return argon2id_kind(hash);
    }
    if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
        return bcrypt_kind(hash);
    }
    let scheme = match hash {
        h if h.starts_with("$apr1$") => "Apache MD5 ($apr1$)",
        h if h.starts_with("{SHA}") => "SHA-1 ({SHA})",
        h if h.starts_with("$1$") => "MD5-crypt ($1$)",
        h if h.starts_with("$5$") => "SHA-256-crypt ($5$)",
        h if h.starts_with("$6$") => "SHA-512-crypt ($6$)",
        h if h.starts_with("$argon2i$") || h.starts_with("$argon2d$") => "argon2i/argon2d",
        h if h.starts_with("$2x$") => "bcrypt $2x$",
        "" => return Err("empty hash".into()),
        _ => "unrecognized (DES crypt or plain text?)",
    };
    Err(format!(
        "hash scheme {scheme} is not supported; latch accepts $argon2id$ and bcrypt $2y$, $2b$, $2a$"
    ))
}

fn argon2id_kind(hash: &str) -> Result<Kind, String> {
    let malformed = || "malformed $argon2id$ hash".to_string();
    let parsed = PasswordHash::new(hash).map_err(|_| malformed())?;
    let Some(output) = parsed.hash.filter(|_| parsed.salt.is_some()) else {
        return Err(malformed());
    };
    let params = Params::try_from(&parsed).map_err(|_| malformed())?;
    let version = parsed.version.unwrap_or(0x13);
    Version::try_from(version).map_err(|_| malformed())?;
    let (memory_kib, passes) = (params.m_cost(), params.t_cost());
    if memory_kib > MAX_ARGON2_MEMORY_KIB {
        return Err(format!(
            "argon2id memory m={memory_kib} KiB is above latch's limit of {MAX_ARGON2_MEMORY_KIB}"
        ));
    }
    if u64::from(memory_kib) * u64::from(passes) > MAX_ARGON2_WORK_KIB {
        return Err(format!(
            "argon2id work m×t = {memory_kib}×{passes} KiB is above latch's limit of {MAX_ARGON2_WORK_KIB}"
        ));
    }
    Ok(Kind::Argon2id {
        version,
        memory_kib,
        passes,
        lanes: params.p_cost(),
        output_len: output.len(),
    })
}

/// `$2y$05$` + 22 characters of salt + 31 of digest, in bcrypt's base64
/// alphabet (`./A-Za-z0-9`).
fn bcrypt_kind(hash: &str) -> Result<Kind, String> {
    let malformed = || "malformed bcrypt hash".to_string();
    let rest = &hash[4..];
    let (cost, digest) = rest.split_once('$').ok_or_else(malformed)?;
    let well_formed = cost.len() == 2
        && cost.bytes().all(|b| b.is_ascii_digit())
        && digest.len() == 53
        && digest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    let cost: u32 = cost.parse().map_err(|_| malformed())?;
    if !well_formed || cost < 4 {
        return Err(malformed());
    }
    if cost > MAX_BCRYPT_COST {
        return Err(format!(
            "bcrypt cost {cost} is above latch's limit of {MAX_BCRYPT_COST}"
        ));
    }
    Ok(Kind::Bcrypt { cost })
}

/// Whether `password` matches `hash`. Deliberately slow (that is the point
/// of a password hash): call it off the async workers. A hash latch does not
/// accept never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    match recognize(hash) {
        Ok(Kind::Argon2id { .. }) => PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }),
        Ok(Kind::Bcrypt { .. }) => bcrypt::verify(password, hash).unwrap_or(false),
        Err(_) => false,
    }
}

/// A new argon2id hash of `password`, as a PHC string (`$argon2id$v=19$…`).
pub fn hash_password(password: &str) -> String {
    hash_as(DEFAULT_KIND, password)
}

/// A new hash of `password` of this kind, with a fresh random salt.
/// `timing` uses it to make decoys that cost what a user's hash costs.
pub fn hash_as(kind: Kind, password: &str) -> String {
    match kind {
        Kind::Argon2id {
            version,
            memory_kib,
            passes,
            lanes,
            output_len,
        } => {
            let params = Params::new(memory_kib, passes, lanes, Some(output_len))
                .expect("the parameters come from a hash that parsed, or are constants");
            let version = Version::try_from(version).expect("recognize checked the version");
            let salt = SaltString::encode_b64(&random_32()[..16])
                .expect("16 bytes is a valid salt length");
            Argon2::new(Algorithm::Argon2id, version, params)
                .hash_password(password.as_bytes(), &salt)
                .expect("argon2 with valid parameters cannot fail")
                .to_string()
        }
        Kind::Bcrypt { cost } => {
            bcrypt::hash(password, cost).expect("recognize keeps the cost within 4..=31")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bcrypt_2y(password: &str, cost: u32) -> String {
        bcrypt::hash_with_result(password, cost)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY)
    }

    #[test]
    fn bcrypt_from_htpasswd_verifies_in_all_three_spellings() {
        // `htpasswd -nbB -C 5 bob secret`
        let hash = bcrypt_2y("secret", 5);
        assert!(hash.starts_with("$2y$05$"));
        assert_eq!(recognize(&hash), Ok(Kind::Bcrypt { cost: 5 }));
        for prefix in ["$2y$", "$2b$", "$2a$"] {
            let spelled = hash.replacen("$2y$", prefix, 1);
            assert!(verify("secret", &spelled), "{prefix}");
            assert!(!verify("Secret", &spelled), "{prefix}");
        }
    }

    #[test]
    fn unsupported_schemes_are_named_without_echoing_the_hash() {
        for (hash, scheme) in [
            ("$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", "$apr1$"),
            ("{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", "{SHA}"),
            ("$6$salt$digest", "$6$"),
            ("rl.fgs8Q5aJpA", "plain text"),
            ("hunter2", "plain text"),
            ("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "argon2i"),
        ] {
            let why = recognize(hash).unwrap_err();
            assert!(why.contains(scheme), "{hash}: {why}");
            assert!(!why.contains(hash), "{why}");
            assert!(!verify("x", hash));
        }
    }

    #[test]
    fn malformed_hashes_are_refused() {
        let good = bcrypt_2y("x", 4);
        for bad in [
            "$argon2id$garbage".to_string(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ".to_string(),
            good[..59].to_string(),
            good.replacen("$04$", "$03$", 1),
            good.replacen("$04$", "$4x$", 1),
            good.replacen("$04$", "$+4$", 1),
            format!("{}!", &good[..59]),
        ] {
            assert!(recognize(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn costs_past_the_limits_are_refused_naming_the_limit() {
        let cost_15 = bcrypt_2y("x", 4).replacen("$04$", "$15$", 1);
        assert!(recognize(&cost_15).unwrap_err().contains("limit of 14"));
        let cost_14 = bcrypt_2y("x", 4).replacen("$04$", "$14$", 1);
        assert_eq!(recognize(&cost_14), Ok(Kind::Bcrypt { cost: 14 }));
        let default = hash_password("x");
        let huge_memory = default.replacen("m=19456", "m=2097152", 1);
        assert!(recognize(&huge_memory).unwrap_err().contains("memory"));
        let long = default.replacen("t=2", "t=100", 1);
        assert!(recognize(&long).unwrap_err().contains("work"));
    }

    #[test]
    fn a_new_hash_has_its_kind_and_verifies_the_right_password_only() {
        let hash = hash_password("correct horse");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let bcrypt_kind = Kind::Bcrypt { cost: 4 };
        let argon_kind = Kind::Argon2id {
            version: 0x13,
            memory_kib: 64,
            passes: 3,
            lanes: 2,
            output_len: 16,
        };
        for kind in [bcrypt_kind, argon_kind, DEFAULT_KIND] {
            let hash = hash_as(kind, "pw");
            assert_eq!(recognize(&hash), Ok(kind), "{hash}");
            assert!(verify("pw", &hash));
            assert!(!verify("wrong", &hash));
        }
    }
}
