//! Webhook authentication. A webhook only ever triggers a fetch; its payload
//! never becomes desired state, so all that matters is who sent it.
//! GitHub: `X-Hub-Signature-256` (HMAC-SHA256 of the body; SHA-1 refused).
//! GitLab: `X-Gitlab-Token`. Both compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bodies larger than this are refused unread.
pub const MAX_BODY: usize = 1 << 20;

/// Why a webhook call is refused: 400 for a malformed call, 401 for an
/// unauthenticated one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed(String),
    Unauthenticated(String),
}

/// Checks a GitHub delivery.
pub fn github(secret: &[u8], signature_256: Option<&str>, body: &[u8]) -> Result<(), Refusal> {
    let Some(header) = signature_256 else {
        return Err(Refusal::Unauthenticated(
            "no X-Hub-Signature-256 header (SHA-1 signatures are not accepted)".into(),
        ));
    };
    let hex_sig = header.strip_prefix("sha256=").ok_or_else(|| {
        Refusal::Malformed("X-Hub-Signature-256 must start with `sha256=`".into())
    })?;
    let sig = hex::decode(hex_sig.trim())
        .map_err(|_| Refusal::Malformed("X-Hub-Signature-256 is not hex".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .map_err(|_| Refusal::Unauthenticated("no webhook secret".into()))?;
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&sig)
        .map_err(|_| Refusal::Unauthenticated("the signature does not match the body".into()))
}

/// Checks a GitLab delivery.
pub fn gitlab(token: &[u8], header: Option<&str>) -> Result<(), Refusal> {
    let Some(given) = header else {
        return Err(Refusal::Unauthenticated("no X-Gitlab-Token header".into()));
    };
    if constant_time_eq(given.as_bytes(), token) {
        Ok(())
    } else {
        Err(Refusal::Unauthenticated("the token does not match".into()))
    }
}

/// Equality whose time depends on neither where the inputs differ nor how
/// long they are: both are hashed first, then compared byte by byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter().zip(y.iter()).fold(0u8, |d, (p, q)| d | (p ^ q)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's own example: secret "It's a Secret to Everybody", payload
    /// "Hello, World!" (docs: "Validating webhook deliveries").
    #[test]
    fn github_signatures_match_githubs_published_example() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(github(secret, Some(good), body), Ok(()));
        assert!(matches!(
            github(secret, Some(good), b"Hello, World?"),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            github(b"other", Some(good), body),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            github(secret, None, body),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            github(secret, Some("sha1=abc"), body),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            github(secret, Some("sha256=zz"), body),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn gitlab_tokens_compare_exactly() {
        assert_eq!(gitlab(b"s3cret", Some("s3cret")), Ok(()));
        assert!(gitlab(b"s3cret", Some("s3cre")).is_err());
        assert!(gitlab(b"s3cret", Some("s3cret!")).is_err());
        assert!(gitlab(b"s3cret", None).is_err());
        assert!(constant_time_eq(b"", b""));
    }
}
