//! The state behind signing in, owned by the services rather than the HTTP layer: the
//! limiter on password checks, the first-run setup token, and the constant-time
//! comparison both rely on.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use storage::users;

/// Compares digests so the comparison time does not depend on where keys differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// Password checks (sign-in and `/me/password`): failures are counted per client and per
/// username, and the checks in progress are capped.
///
/// After [`LoginLimiter::MAX_FAILURES`] failures from one client, or
/// [`LoginLimiter::MAX_USER_FAILURES`] against one username from anywhere, within the
/// window, further attempts wait until the oldest failure leaves the window; the
/// username's count stops guessing spread over many addresses. An attempt counts as a
/// failure from the moment it starts ([`LoginLimiter::begin`]), so parallel guesses
/// cannot all slip past the check while argon2 runs; a success takes back only its own
/// attempt, so signing in to one account does not reset the count of guesses at
/// another. IPv6 clients are counted per /64 (one host's share). At most
/// [`LoginLimiter::MAX_CHECKS`] attempts run or wait for argon2 at once; past that an
/// attempt is refused at once ([`Refusal::Busy`]) instead of queueing.
#[derive(Debug)]
pub struct LoginLimiter {
    counts: parking_lot::Mutex<Counts>,
    checks: Semaphore,
}

#[derive(Debug, Default)]
struct Counts {
    clients: HashMap<IpAddr, Vec<Instant>>,
    users: HashMap<String, Vec<Instant>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            counts: Default::default(),
            checks: Semaphore::new(Self::MAX_CHECKS),
        }
    }
}

/// Why an attempt was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures from this client or against this username: wait this long.
    Locked(Duration),
    /// [`LoginLimiter::MAX_CHECKS`] password checks are already in progress.
    Busy,
}

/// A started attempt: a failure until [`LoginLimiter::succeeded`] takes it back. It holds
/// one of the [`LoginLimiter::MAX_CHECKS`] places while it lives.
#[derive(Debug)]
#[must_use]
pub struct Attempt<'a> {
    at: Instant,
    client: IpAddr,
    user: Option<String>,
    _place: SemaphorePermit<'a>,
}

impl LoginLimiter {
    /// Failures per client within the window.
    pub const MAX_FAILURES: usize = 5;
    /// Failures per username within the window, from any number of clients.
    pub const MAX_USER_FAILURES: usize = 10;
    pub(crate) const WINDOW: Duration = Duration::from_secs(300);
    /// Clients (and usernames) tracked at most; past it the stalest are forgotten.
    pub(crate) const MAX_CLIENTS: usize = 10_000;
    /// Password checks running or waiting for argon2 at most.
    pub(crate) const MAX_CHECKS: usize = 16;

    fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
                }
            },
            v4 => v4,
        }
    }

    /// Starts an attempt of `ip` at `username`'s password: refused while either is
    /// locked out or when too many checks are in progress, else recorded (as a failure
    /// until [`LoginLimiter::succeeded`] takes it back). A name no account can have is
    /// counted only per client.
    pub fn begin(&self, ip: IpAddr, username: &str, now: Instant) -> Result<Attempt<'_>, Refusal> {
        let client = Self::key(ip);
        let user = users::validate_username(username)
            .is_ok()
            .then(|| username.to_string());
        let mut counts = self.counts.lock();
        let mut wait = locked(&mut counts.clients, &client, now, Self::MAX_FAILURES);
        if let Some(u) = &user {
            wait = wait.max(locked(&mut counts.users, u, now, Self::MAX_USER_FAILURES));
        }
        if let Some(wait) = wait {
            return Err(Refusal::Locked(wait));
        }
        let place = self.checks.try_acquire().map_err(|_| Refusal::Busy)?;
        record(&mut counts.clients, client, now);
        if let Some(u) = &user {
            record(&mut counts.users, u.clone(), now);
        }
        Ok(Attempt {
            at: now,
            client,
            user,
            _place: place,
        })
    }

    /// The attempt succeeded: it no longer counts.
    pub fn succeeded(&self, attempt: Attempt<'_>) {
        let mut counts = self.counts.lock();
        take_back(&mut counts.clients, &attempt.client, attempt.at);
        if let Some(u) = &attempt.user {
            take_back(&mut counts.users, u, attempt.at);
        }
    }
}

/// Keeps `key`'s failures within the window; how long to wait when `max` remain.
fn locked<K: Hash + Eq>(
    map: &mut HashMap<K, Vec<Instant>>,
    key: &K,
    now: Instant,
    max: usize,
) -> Option<Duration> {
    let list = map.get_mut(key)?;
    list.retain(|t| now.duration_since(*t) < LoginLimiter::WINDOW);
    let oldest = *list.first()?;
    (list.len() >= max).then(|| LoginLimiter::WINDOW.saturating_sub(now.duration_since(oldest)))
}

/// Records a failure of `key` at `now`; past [`LoginLimiter::MAX_CLIENTS`] keys the
/// stalest are forgotten.
fn record<K: Hash + Eq + Clone>(map: &mut HashMap<K, Vec<Instant>>, key: K, now: Instant) {
    if map.len() >= LoginLimiter::MAX_CLIENTS && !map.contains_key(&key) {
        map.retain(|_, l| {
            l.iter()
                .any(|t| now.duration_since(*t) < LoginLimiter::WINDOW)
        });
        if map.len() >= LoginLimiter::MAX_CLIENTS {
            // Still full of live entries: forget the key whose newest attempt is oldest.
            if let Some(stalest) = map
                .iter()
                .min_by_key(|(_, l)| l.last().copied())
                .map(|(k, _)| k.clone())
            {
                map.remove(&stalest);
            }
        }
    }
    map.entry(key).or_default().push(now);
}

fn take_back<K: Hash + Eq>(map: &mut HashMap<K, Vec<Instant>>, key: &K, at: Instant) {
    if let Some(list) = map.get_mut(key) {
        if let Some(i) = list.iter().rposition(|t| *t == at) {
            list.remove(i);
        }
        if list.is_empty() {
            map.remove(key);
        }
    }
}

/// Characters in a setup token.
pub(crate) const TOKEN_LEN: usize = 24;
/// Letters and digits without look-alikes (0/O, 1/l/I): URL-safe and easy to retype.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// The one-time setup token, while setup is open. Held only here (never stored, never
/// sent by the server), and shown in the log once at start.
pub struct SetupToken(parking_lot::Mutex<Option<String>>);

impl std::fmt::Debug for SetupToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.lock().is_some() {
            "open"
        } else {
            "void"
        };
        write!(f, "SetupToken({state})")
    }
}

impl SetupToken {
    /// `None`: setup was closed at start (a user exists).
    pub fn new(token: Option<String>) -> Self {
        Self(parking_lot::Mutex::new(token))
    }

    /// A fresh random token ([`TOKEN_LEN`] characters, about 140 bits).
    pub fn generate() -> String {
        let mut rng = rand::rng();
        (0..TOKEN_LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// The token while it is valid.
    pub fn get(&self) -> Option<String> {
        self.0.lock().clone()
    }

    /// Whether `presented` is the token (compared in constant time); never once void.
    pub fn matches(&self, presented: &str) -> bool {
        self.0
            .lock()
            .as_deref()
            .is_some_and(|t| !presented.is_empty() && same_secret(t, presented))
    }

    /// A user exists: the token no longer opens anything.
    pub fn void(&self) {
        *self.0.lock() = None;
    }
}

/// The start-up log line that shows the token. The debug bundle redacts what follows
/// `/setup?token=` ([`crate::bundle::redact`]).
pub(crate) fn log_line(addr: SocketAddr, token: &str) -> String {
    let port = addr.port();
    let at = if addr.ip().is_unspecified() {
        format!("<host>:{port}")
    } else {
        addr.to_string()
    };
    format!(
        "First-run setup: open http://{at}/setup?token={token} to create the admin \
         (or enter the token on the setup page); a browser on this machine at \
         http://localhost:{port}/setup needs no token"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal, or `None` when the attempt started (it is dropped at once, a failure).
    fn refused(l: &LoginLimiter, ip: IpAddr, user: &str, now: Instant) -> Option<Refusal> {
        l.begin(ip, user, now).err()
    }

    #[test]
    fn the_limiter_locks_after_five_failures_and_releases_after_the_window() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for i in 0..4 {
            assert_eq!(refused(&l, ip, "", at(i)), None);
        }
        // A success takes back only its own attempt, not the earlier failures.
        let ok = l.begin(ip, "", at(5)).unwrap();
        l.succeeded(ok);
        assert_eq!(refused(&l, ip, "", at(10)), None, "the fifth failure");
        let wait = |s| Some(Refusal::Locked(Duration::from_secs(s)));
        assert_eq!(refused(&l, ip, "", at(10)), wait(290));
        assert_eq!(refused(&l, ip, "", at(20)), wait(280));
        assert_eq!(refused(&l, other, "", at(20)), None, "per client");
        assert_eq!(
            refused(&l, ip, "", at(301)),
            None,
            "the oldest left the window"
        );
    }

    #[test]
    fn parallel_attempts_count_before_they_finish_and_ipv6_counts_per_64() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        // Five attempts in flight at once: the sixth is refused before any finished.
        let running: Vec<_> = (0..5).map(|_| l.begin(ip, "", t0).unwrap()).collect();
        assert!(matches!(refused(&l, ip, "", t0), Some(Refusal::Locked(_))));
        drop(running);
        for i in 0..5u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, i + 1]);
            assert_eq!(refused(&l, ip, "", t0), None);
        }
        let same_64 = IpAddr::from([0x2001, 0xdb8, 1, 2, 9, 9, 9, 9]);
        assert!(refused(&l, same_64, "", t0).is_some());
        let other_64 = IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]);
        assert_eq!(refused(&l, other_64, "", t0), None);
    }

    #[test]
    fn a_username_locks_after_failures_from_many_clients() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let client = |i: u8| IpAddr::from([192, 0, 2, i]);
        for i in 0..LoginLimiter::MAX_USER_FAILURES as u8 {
            assert_eq!(refused(&l, client(i), "root", at(i as u64)), None);
        }
        // A fresh client, the right password or not: refused until the oldest leaves.
        assert_eq!(
            refused(&l, client(200), "root", at(100)),
            Some(Refusal::Locked(Duration::from_secs(200)))
        );
        // Other names are not locked (and a refusal is not a failure of the client's).
        for _ in 0..LoginLimiter::MAX_FAILURES - 1 {
            assert_eq!(refused(&l, client(200), "val", at(100)), None);
        }
        assert_eq!(
            refused(&l, client(201), "root", at(300)),
            None,
            "the window moved"
        );
        // A name no account can have is counted per client only.
        let junk = "not a name; 'or 1=1";
        for i in 0..=LoginLimiter::MAX_USER_FAILURES as u8 {
            assert_eq!(refused(&l, client(50 + i), junk, at(0)), None);
        }
        assert!(!l.counts.lock().users.contains_key(junk));
    }

    #[test]
    fn checks_past_the_cap_are_refused_at_once_and_not_counted() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let client = |i: usize| IpAddr::from([198, 51, 100, i as u8]);
        let running: Vec<_> = (0..LoginLimiter::MAX_CHECKS)
            .map(|i| l.begin(client(i), "", t0).unwrap())
            .collect();
        let late = client(200);
        assert_eq!(refused(&l, late, "root", t0), Some(Refusal::Busy));
        assert!(
            !l.counts.lock().clients.contains_key(&late),
            "not a failure"
        );
        assert!(!l.counts.lock().users.contains_key("root"));
        // A finished check frees its place.
        l.succeeded(running.into_iter().next().unwrap());
        let next = l.begin(late, "root", t0);
        assert!(next.is_ok());
    }

    #[test]
    fn the_limiter_stays_bounded() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..(LoginLimiter::MAX_CLIENTS as u32 + 50) {
            let name = format!("user{i}");
            let _ = l.begin(IpAddr::from(i.to_be_bytes()), &name, t0);
        }
        let counts = l.counts.lock();
        assert!(counts.clients.len() <= LoginLimiter::MAX_CLIENTS);
        assert!(counts.users.len() <= LoginLimiter::MAX_CLIENTS);
    }

    #[test]
    fn tokens_are_random_match_in_full_and_are_void_once_closed() {
        let a = SetupToken::generate();
        let b = SetupToken::generate();
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
        let t = SetupToken::new(Some(a.clone()));
        assert!(t.matches(&a));
        assert!(!t.matches(&b) && !t.matches("") && !t.matches(&a[..TOKEN_LEN - 1]));
        assert!(!format!("{t:?}").contains(&a), "Debug hides the token");
        t.void();
        assert_eq!(t.get(), None);
        assert!(!t.matches(&a));
        assert!(!SetupToken::new(None).matches(""));
    }

    #[test]
    fn the_log_line_names_the_address_or_a_placeholder() {
        let line = log_line("192.168.1.5:8501".parse().unwrap(), "Tok");
        assert!(
            line.contains("http://192.168.1.5:8501/setup?token=Tok "),
            "{line}"
        );
        let line = log_line("0.0.0.0:8501".parse().unwrap(), "Tok");
        assert!(
            line.starts_with("First-run setup: open http://<host>:8501/setup?token=Tok "),
            "{line}"
        );
        assert!(line.contains("http://localhost:8501/setup"), "{line}");
        let line = log_line("[::1]:8501".parse().unwrap(), "Tok");
        assert!(
            line.contains("http://[::1]:8501/setup?token=Tok "),
            "{line}"
        );
    }
}
