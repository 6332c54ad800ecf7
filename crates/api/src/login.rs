//! Login throttling and password checking that a flood cannot turn against
//! the operator.
//!
//! Argon2 is slow and memory-hungry on purpose, so logins must be bounded;
//! but one global queue, as weir had, lets anyone lock the operator out by
//! filling it with wrong passwords. So the bounds are per source:
//!
//! * [`LoginGate`]: one attempt in flight per address (IPv6 per /64, what
//!   one subscriber usually gets), a few per user name, and a short global
//!   queue. Anything beyond is answered `429` at once, never queued, so a
//!   flood costs the server nothing and does not delay anyone else.
//! * [`Verifier`]: at most [`HASHING`] argon2 runs at a time, each on a
//!   working memory taken from a small pool and put back: argon2's default
//!   allocates ~19 MiB per run, and freeing it on whichever blocking thread
//!   ran it left each thread's malloc arena holding it (RSS 9 → 127 MB
//!   after 200 failures).
//!
//! The failure delay is held on the per-address and per-name slots, not on
//! the hashing slots, so it slows the guesser down and nobody else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::auth::same_secret;

/// Argon2 runs at once, whoever asks: bounds CPU and memory
/// (`HASHING` × the hash's memory cost).
pub(crate) const HASHING: usize = 2;
/// Login attempts admitted at once (waiting for or running a hash, or
/// sitting out a failure delay) from all addresses together.
const MAX_PENDING: usize = 32;
/// Attempts in flight from one address.
const PER_ADDRESS: u32 = 1;
/// Attempts in flight for one user name, from all addresses: bounds how
/// fast a botnet can guess the one real account, while leaving room for
/// the operator (who is answered `429`, not queued, if it is full).
const PER_USER: u32 = 4;
/// User names are counted by at most this many leading bytes, so a huge
/// name costs no memory.
const USER_KEY_BYTES: usize = 64;

/// Which bound refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// This address already has a login in flight.
    Address,
    /// This user name already has [`PER_USER`] logins in flight.
    User,
    /// [`MAX_PENDING`] logins are in flight.
    Total,
}

impl Busy {
    /// For the log and the `429` message.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Busy::Address => "one at a time per address",
            Busy::User => "too many for this user name",
            Busy::Total => "too many in total",
        }
    }
}

#[derive(Default)]
struct Pending {
    total: usize,
    by_address: HashMap<IpAddr, u32>,
    by_user: HashMap<Vec<u8>, u32>,
}

/// Counts the logins in flight per address, per user name and in total.
#[derive(Default)]
pub(crate) struct LoginGate {
    pending: Mutex<Pending>,
}

/// The address key: IPv6 by its /64, since one subscriber typically holds
/// a whole /64 and could otherwise use a fresh address per attempt. IPv4
/// clients of a dual-stack listener arrive as `::ffff:a.b.c.d`, all in one
/// /64: they are keyed by their IPv4 address instead.
fn address_key(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into())
}

impl LoginGate {
    /// Admits a login from `ip` for `user`, or says at once which bound is
    /// full. The slots are held until the ticket drops.
    pub(crate) fn enter(&self, ip: IpAddr, user: &str) -> Result<Ticket<'_>, Busy> {
        let address = address_key(ip);
        let user = user.as_bytes()[..user.len().min(USER_KEY_BYTES)].to_vec();
        let mut p = self.pending.lock();
        if p.by_address.get(&address).copied().unwrap_or(0) >= PER_ADDRESS {
            return Err(Busy::Address);
        }
        if p.by_user.get(&user).copied().unwrap_or(0) >= PER_USER {
            return Err(Busy::User);
        }
        if p.total >= MAX_PENDING {
            return Err(Busy::Total);
        }
        p.total += 1;
        *p.by_address.entry(address).or_insert(0) += 1;
        *p.by_user.entry(user.clone()).or_insert(0) += 1;
        Ok(Ticket {
            gate: self,
            address,
            user,
        })
    }
}

/// One admitted login; gives its slots back when dropped.
pub(crate) struct Ticket<'a> {
    gate: &'a LoginGate,
    address: IpAddr,
    user: Vec<u8>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut p = self.gate.pending.lock();
        p.total -= 1;
        if let Some(n) = p.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                p.by_address.remove(&self.address);
            }
        }
        if let Some(n) = p.by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                p.by_user.remove(&self.user);
            }
        }
    }
}

/// Checks passwords against the configured argon2 hash, parsed once, on
/// reused working memory.
pub(crate) struct Verifier {
    argon2: Argon2<'static>,
    salt: Vec<u8>,
    expected: Vec<u8>,
    /// Blocks of working memory one run needs.
    blocks: usize,
    /// Bounds the runs at once to [`HASHING`].
    hashing: Semaphore,
    /// Working memories of finished runs, for the next ones; at most
    /// [`HASHING`] are kept, as no more are ever in use at once.
    spare: Mutex<Vec<Vec<Block>>>,
}

impl Verifier {
    /// Parses a PHC argon2 hash string (as `weir passwd` prints).
    pub(crate) fn new(hash: &str) -> Result<Self, String> {
        let bad = |e: &dyn std::fmt::Display| format!("not a usable argon2 hash: {e}");
        let parsed = PasswordHash::new(hash).map_err(|e| bad(&e))?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| bad(&e))?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|e| bad(&e))?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).map_err(|e| bad(&e))?;
        let mut salt_buf = [0u8; 64];
        let salt = parsed
            .salt
            .ok_or_else(|| bad(&"no salt"))?
            .decode_b64(&mut salt_buf)
            .map_err(|e| bad(&e))?
            .to_vec();
        let expected = parsed
            .hash
            .ok_or_else(|| bad(&"no hash"))?
            .as_bytes()
            .to_vec();
        let blocks = params.block_count();
        Ok(Verifier {
            argon2: Argon2::new(algorithm, version, params),
            salt,
            expected,
            blocks,
            hashing: Semaphore::new(HASHING),
            spare: Mutex::new(Vec::new()),
        })
    }

    /// Whether `password` matches, computed off the async threads once one
    /// of the [`HASHING`] slots is free.
    pub(crate) async fn check(self: &Arc<Self>, password: Vec<u8>) -> bool {
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.check_now(&password))
            .await
            .unwrap_or(false)
    }

    fn check_now(&self, password: &[u8]) -> bool {
        let taken = self.spare.lock().pop();
        let mut memory = taken.unwrap_or_else(|| vec![Block::default(); self.blocks]);
        let mut out = vec![0u8; self.expected.len()];
        let ok = self
            .argon2
            .hash_password_into_with_memory(password, &self.salt, &mut out, memory.as_mut_slice())
            .is_ok()
            && same_secret(&out, &self.expected);
        let mut spare = self.spare.lock();
        if spare.len() < HASHING {
            spare.push(memory);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hash_password;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn the_verifier_accepts_only_the_password_and_reuses_memory() {
        let v = Arc::new(Verifier::new(&hash_password("s3cret").unwrap()).unwrap());
        assert!(v.check(b"s3cret".to_vec()).await);
        assert!(!v.check(b"s3cret ".to_vec()).await);
        assert!(!v.check(Vec::new()).await);
        assert_eq!(v.spare.lock().len(), 1, "one run at a time used one memory");
    }

    #[test]
    fn one_login_per_address_a_few_per_user_and_a_bounded_total() {
        let g = LoginGate::default();
        let a = g.enter(ip("10.0.0.1"), "admin").unwrap();
        assert_eq!(g.enter(ip("10.0.0.1"), "other").err(), Some(Busy::Address));
        // Another address is not held up by the first.
        let b = g.enter(ip("10.0.0.2"), "admin").unwrap();
        // IPv6 counts by /64.
        let _c = g.enter(ip("2001:db8::1"), "x").unwrap();
        assert_eq!(g.enter(ip("2001:db8::2"), "y").err(), Some(Busy::Address));
        let _d = g.enter(ip("2001:db8:0:1::2"), "y").unwrap();
        // IPv4 through a dual-stack listener: each address on its own.
        let v4a = g.enter(ip("::ffff:192.0.2.7"), "p").unwrap();
        let v4b = g.enter(ip("::ffff:192.0.2.8"), "q").unwrap();
        assert_eq!(g.enter(ip("192.0.2.7"), "r").err(), Some(Busy::Address));
        drop((v4a, v4b));
        let _e = g.enter(ip("10.0.0.3"), "admin").unwrap();
        let _f = g.enter(ip("10.0.0.4"), "admin").unwrap();
        assert_eq!(g.enter(ip("10.0.0.5"), "admin").err(), Some(Busy::User));
        drop(a);
        drop(b);
        assert!(g.enter(ip("10.0.0.1"), "admin").is_ok());
        let many: Vec<_> = (0..MAX_PENDING as u32)
            .filter_map(|i| {
                g.enter(
                    IpAddr::from((0x0b00_0000 + i).to_be_bytes()),
                    &i.to_string(),
                )
                .ok()
            })
            .collect();
        assert_eq!(g.pending.lock().total, MAX_PENDING);
        assert_eq!(g.enter(ip("192.0.2.1"), "z").err(), Some(Busy::Total));
        drop(many);
        drop((_c, _d, _e, _f));
        let p = g.pending.lock();
        assert_eq!(p.total, 0);
        assert!(p.by_address.is_empty() && p.by_user.is_empty());
    }
}
