//! Hashing, secrets and access tokens.
//!
//! High-entropy secrets (link tokens, refresh tokens, API keys) are stored as
//! SHA-256 digests: nobody can guess their way back from 256 random bits. Low-entropy
//! values (6-digit codes, email addresses in rate-limit keys) are stored as
//! HMAC-SHA256 under a server-side key, so a stolen table does not reveal them.

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ports::Random;

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// A random secret for a URL or header: 32 bytes, base64url.
pub fn random_token(random: &dyn Random) -> String {
    let mut b = [0u8; 32];
    random.fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Compares two strings without revealing where they first differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The server-side key for HMACs of codes and email addresses.
pub struct Pepper(hmac::Key);

impl Pepper {
    /// From configuration: at least 32 bytes of secret material.
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("the code pepper must be at least 32 bytes".into());
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// HMAC-SHA256 of `parts` joined unambiguously, as hex.
    pub fn hash(&self, parts: &[&str]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p.as_bytes());
        }
        hex(ctx.sign().as_ref())
    }
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The member.
    pub sub: String,
    /// The practice.
    pub pid: String,
    /// The session, checked on every request.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid signing key: {0}")]
    Invalid(String),
}

/// Signs access tokens (EdDSA). Only the `auth` function holds one.
pub struct TokenSigner {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl TokenSigner {
    pub fn from_pem(private_pem: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let key = EncodingKey::from_ed_pem(private_pem.as_bytes()).map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok(Self { key, issuer: issuer.into(), audience: audience.into() })
    }

    pub fn sign(&self, sub: &str, pid: &str, sid: &str, now: OffsetDateTime, ttl: time::Duration) -> String {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.into(),
            pid: pid.into(),
            sid: sid.into(),
            iat: now.unix_timestamp(),
            exp: (now + ttl).unix_timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .expect("EdDSA signing with a parsed key cannot fail")
    }
}

/// Verifies access tokens: signature, algorithm (pinned to EdDSA), issuer, audience, expiry.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn from_pem(public_pem: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let key = DecodingKey::from_ed_pem(public_pem.as_bytes()).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        // Expiry is checked in `verify` against the injected clock, not the system's.
        validation.validate_exp = false;
        Ok(Self { key, validation })
    }

    /// The claims of a valid token. `now` is checked here too, so a test clock
    /// governs expiry exactly as the system clock does.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Option<Claims> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).ok()?.claims;
        (claims.exp > now.unix_timestamp() - self.validation.leeway as i64).then_some(claims)
    }
}

/// A fresh Ed25519 key pair as (PKCS#8 private PEM, SPKI public PEM).
pub fn generate_ed25519_pem() -> (String, String) {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key generation");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("generated key parses");
    // SubjectPublicKeyInfo for Ed25519: fixed algorithm header, then the 32-byte key.
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(pair.public_key().as_ref());
    (pem("PRIVATE KEY", pkcs8.as_ref()), pem("PUBLIC KEY", &spki))
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tokens_verify_only_with_the_right_key_issuer_and_audience() {
        let (private, public) = generate_ed25519_pem();
        let signer = TokenSigner::from_pem(&private, "iss", "aud").unwrap();
        let verifier = TokenVerifier::from_pem(&public, "iss", "aud").unwrap();
        let now = datetime!(2026-01-01 0:00 UTC);
        let token = signer.sign("mbr_a", "prc_a", "ses_a", now, time::Duration::minutes(15));
        assert_eq!(verifier.verify(&token, now).unwrap().sub, "mbr_a");
        assert!(verifier.verify(&token, now + time::Duration::minutes(16)).is_none());

        let other_audience = TokenVerifier::from_pem(&public, "iss", "other").unwrap();
        assert!(other_audience.verify(&token, now).is_none());
        let (_, other_public) = generate_ed25519_pem();
        let other_key = TokenVerifier::from_pem(&other_public, "iss", "aud").unwrap();
        assert!(other_key.verify(&token, now).is_none());
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let (_, public) = generate_ed25519_pem();
        let verifier = TokenVerifier::from_pem(&public, "iss", "aud").unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD
            .encode(br#"{"iss":"iss","aud":"aud","sub":"mbr_a","pid":"prc_a","sid":"ses_a","iat":0,"exp":9999999999}"#);
        assert!(verifier.verify(&format!("{header}.{body}."), datetime!(2026-01-01 0:00 UTC)).is_none());
    }

    #[test]
    fn hmacs_depend_on_the_key_and_the_split_of_parts() {
        let a = Pepper::new(&[1u8; 32]).unwrap();
        let b = Pepper::new(&[2u8; 32]).unwrap();
        assert_ne!(a.hash(&["x", "y"]), b.hash(&["x", "y"]));
        assert_ne!(a.hash(&["xy", ""]), a.hash(&["x", "y"]));
        assert!(Pepper::new(b"short").is_err());
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
