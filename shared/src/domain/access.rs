//! Access rules: one-time codes, their challenges, rate limits and sessions.
//! Pure functions of the state and the time, so every rule is unit-tested here.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::ids::{ChallengeId, MemberId, PracticeId, SessionId};

/// Digits in a one-time code.
pub const CODE_DIGITS: usize = 6;
/// How long a code may be used.
pub const CODE_TTL: Duration = Duration::minutes(10);
/// Wrong tries allowed per code; the next try is refused even with the right code.
pub const MAX_CODE_TRIES: u32 = 5;
/// Codes one email address may be sent within `RATE_WINDOW`.
pub const CODES_PER_EMAIL: u32 = 5;
/// Codes one access link may send within `RATE_WINDOW`.
pub const CODES_PER_LINK: u32 = 5;
/// The window the per-email and per-link limits count in.
pub const RATE_WINDOW: Duration = Duration::minutes(15);
/// How long an emailed access link works.
pub const LINK_TTL: Duration = Duration::days(7);
/// Lifetime of an access token (JWT).
pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(15);
/// A session ends this long after sign-in, however often it is refreshed.
pub const SESSION_TTL: Duration = Duration::hours(12);
/// After a code is verified, how long the person has to choose whom to act as.
pub const SELECTION_TTL: Duration = Duration::minutes(10);

/// Turns a uniformly random `u32` into a 6-digit code, or `None` when the
/// value falls in the biased tail and a fresh one must be drawn.
pub fn code_from_random(value: u32) -> Option<String> {
    const RANGE: u32 = 1_000_000;
    let limit = u32::MAX - (u32::MAX % RANGE);
    (value < limit).then(|| format!("{:06}", value % RANGE))
}

/// A code as a person may type it: spaces and dashes are ignored, six digits remain.
pub fn normalise_code(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    (digits.len() == CODE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// What was asked to receive a code: a link, or the practice and an email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeOrigin {
    Link,
    Email,
}

/// A one-time code as stored: only its keyed hash, with its expiry and tries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeCode {
    /// Keyed hash of the code; the code itself is never stored.
    pub code_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub failed_tries: u32,
    /// Set once the right code was entered: the code is spent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

impl OneTimeCode {
    pub fn new(code_hash: String, now: OffsetDateTime) -> Self {
        OneTimeCode { code_hash, expires_at: now + CODE_TTL, failed_tries: 0, used_at: None }
    }

    /// Applies one attempt and returns the code's new state with the outcome.
    /// `matches` says whether the typed code's hash equals `code_hash` (compared in constant time by the caller).
    pub fn check(&self, matches: bool, now: OffsetDateTime) -> (OneTimeCode, CodeCheck) {
        let mut next = self.clone();
        if self.used_at.is_some() {
            return (next, CodeCheck::AlreadyUsed);
        }
        if now >= self.expires_at {
            return (next, CodeCheck::Expired);
        }
        if self.failed_tries >= MAX_CODE_TRIES {
            return (next, CodeCheck::Locked);
        }
        if matches {
            next.used_at = Some(now);
            return (next, CodeCheck::Accepted);
        }
        next.failed_tries += 1;
        let remaining = MAX_CODE_TRIES - next.failed_tries;
        (next, CodeCheck::Wrong { remaining })
    }
}

/// A code sent to a mailbox to sign in, waiting to be typed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub id: ChallengeId,
    pub practice_id: PracticeId,
    pub origin: ChallengeOrigin,
    /// Members who receive mail at that address; empty when the address is unknown.
    pub candidates: Vec<MemberId>,
    #[serde(flatten)]
    pub code: OneTimeCode,
    /// After a verified code with several candidates: hash of the one-time
    /// selection token that lets the person choose whom to act as.
    #[serde(default)]
    pub selection_hash: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub selection_expires_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub selection_used: bool,
    /// Where the front end goes after sign-in, from the access link.
    #[serde(default)]
    pub next: Option<String>,
    pub version: u64,
}

/// The outcome of typing a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code: it is spent.
    Accepted,
    /// Wrong code; `remaining` more tries are allowed.
    Wrong {
        remaining: u32,
    },
    /// Too many wrong tries: a new code is needed.
    Locked,
    Expired,
    AlreadyUsed,
}

impl Challenge {
    /// Applies one attempt and returns the new state of the challenge with the outcome.
    pub fn attempt(&self, matches: bool, now: OffsetDateTime) -> (Challenge, CodeCheck) {
        // An unknown address has no candidates: it behaves exactly like a wrong code.
        let (code, check) = self.code.check(matches && !self.candidates.is_empty(), now);
        (Challenge { code, version: self.version + 1, ..self.clone() }, check)
    }

    /// When the stored item may be forgotten: after the code, or the selection it opened, expires.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.selection_expires_at.map_or(self.code.expires_at, |s| s.max(self.code.expires_at))
    }
}

/// A fixed-window counter of sends for one email or link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateWindow {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub count: u32,
    pub version: u64,
}

impl RateWindow {
    /// Counts one more send if `limit` allows it, starting a new window when the old one ran out.
    /// `Err(wait)` says how long until the next send is allowed.
    pub fn hit(current: Option<&RateWindow>, limit: u32, now: OffsetDateTime) -> Result<RateWindow, Duration> {
        match current {
            Some(w) if now < w.started_at + RATE_WINDOW => {
                if w.count >= limit {
                    Err(w.started_at + RATE_WINDOW - now)
                } else {
                    Ok(RateWindow { started_at: w.started_at, count: w.count + 1, version: w.version + 1 })
                }
            }
            Some(w) => Ok(RateWindow { started_at: now, count: 1, version: w.version + 1 }),
            None => Ok(RateWindow { started_at: now, count: 1, version: 0 }),
        }
    }
}

/// An access link emailed by the practice. Opening it does nothing; it only
/// lets the member ask for a code to the address on file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLink {
    pub practice_id: PracticeId,
    pub member_id: MemberId,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl AccessLink {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// Where a deep link may send the member after sign-in: a portal path such as
/// `/agreements` or `/invoices/inv_…`. Absolute URLs are refused, so a link cannot
/// send anyone off the portal.
pub fn parse_next_path(value: &str) -> Result<String, super::FieldError> {
    let v = value.trim();
    let ok = v.starts_with('/')
        && !v.starts_with("//")
        && v.len() <= 200
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
        && !v.contains("..");
    if ok {
        Ok(v.to_owned())
    } else {
        Err(super::FieldError::new("", "must be a portal path such as /agreements"))
    }
}

/// A signed-in session. Access tokens name it, and every request checks it is still live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub practice_id: PracticeId,
    pub member_id: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Keyed hash of the current refresh token.
    pub refresh_hash: String,
    /// Keyed hash of the token it replaced: presenting it again means the token was stolen.
    #[serde(default)]
    pub previous_refresh_hash: Option<String>,
    pub version: u64,
}

impl Session {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn challenge(candidates: usize) -> Challenge {
        Challenge {
            id: ChallengeId::parse("chl_a").unwrap(),
            practice_id: PracticeId::parse("prc_a").unwrap(),
            origin: ChallengeOrigin::Email,
            candidates: (0..candidates).map(|i| MemberId::parse(&format!("mbr_{i}")).unwrap()).collect(),
            code: OneTimeCode::new("h".into(), datetime!(2026-01-01 0:00 UTC)),
            selection_hash: None,
            selection_expires_at: None,
            selection_used: false,
            next: None,
            version: 0,
        }
    }

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    #[test]
    fn codes_are_six_digits_without_bias() {
        assert_eq!(code_from_random(42).unwrap(), "000042");
        assert_eq!(code_from_random(1_999_999).unwrap(), "999999");
        assert!(code_from_random(u32::MAX).is_none());
    }

    #[test]
    fn typed_codes_tolerate_spaces_and_dashes() {
        assert_eq!(normalise_code(" 123-456 ").unwrap(), "123456");
        assert!(normalise_code("12345").is_none());
        assert!(normalise_code("12345a").is_none());
    }

    #[test]
    fn the_right_code_is_accepted_once() {
        let (c, r) = challenge(1).attempt(true, T0);
        assert_eq!(r, CodeCheck::Accepted);
        assert_eq!(c.attempt(true, T0).1, CodeCheck::AlreadyUsed);
    }

    #[test]
    fn the_sixth_try_is_refused_even_when_right() {
        let mut c = challenge(1);
        for expected in (0..MAX_CODE_TRIES).rev() {
            let (n, r) = c.attempt(false, T0);
            assert_eq!(r, CodeCheck::Wrong { remaining: expected });
            c = n;
        }
        assert_eq!(c.attempt(true, T0).1, CodeCheck::Locked);
    }

    #[test]
    fn an_expired_code_is_refused() {
        let c = challenge(1);
        assert_eq!(c.attempt(true, datetime!(2026-01-01 0:10 UTC)).1, CodeCheck::Expired);
    }

    #[test]
    fn an_unknown_address_behaves_like_a_wrong_code() {
        assert_eq!(challenge(0).attempt(true, T0).1, CodeCheck::Wrong { remaining: 4 });
    }

    #[test]
    fn rate_windows_count_and_reset() {
        let mut w = RateWindow::hit(None, 2, T0).unwrap();
        w = RateWindow::hit(Some(&w), 2, T0 + Duration::minutes(1)).unwrap();
        let wait = RateWindow::hit(Some(&w), 2, T0 + Duration::minutes(5)).unwrap_err();
        assert_eq!(wait, Duration::minutes(10));
        let fresh = RateWindow::hit(Some(&w), 2, T0 + RATE_WINDOW).unwrap();
        assert_eq!(fresh.count, 1);
    }

    #[test]
    fn next_paths_stay_inside_the_portal() {
        assert!(parse_next_path("/agreements").is_ok());
        for bad in ["https://evil.example", "//evil.example", "agreements", "/a/../b", "/a?x=1"] {
            assert!(parse_next_path(bad).is_err(), "{bad}");
        }
    }
}
