//! WinRM's message encryption over plain HTTP (MS-WSMV 2.2.9.1.1): each
//! SOAP envelope travels NTLM-sealed inside a `multipart/encrypted` body,
//! the original length in the first part, the signature-prefixed
//! ciphertext in the second.

use super::ntlm::Sealer;

pub const PROTOCOL: &str = "application/HTTP-SPNEGO-session-encrypted";
pub const CONTENT_TYPE: &str = "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";
const BOUNDARY: &[u8] = b"--Encrypted Boundary";

/// The body for `soap`, sealed with the sender's keys.
pub fn wrap(sealer: &mut Sealer, soap: &[u8]) -> Vec<u8> {
    let (signature, cipher) = sealer.seal(soap);
    let mut body = Vec::with_capacity(soap.len() + 256);
    body.extend_from_slice(BOUNDARY);
    body.extend_from_slice(b"\r\n\tContent-Type: ");
    body.extend_from_slice(PROTOCOL.as_bytes());
    body.extend_from_slice(
        format!(
            "\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={}\r\n",
            soap.len()
        )
        .as_bytes(),
    );
    body.extend_from_slice(BOUNDARY);
    body.extend_from_slice(b"\r\n\tContent-Type: application/octet-stream\r\n");
    body.extend_from_slice(&16u32.to_le_bytes());
    body.extend_from_slice(&signature);
    body.extend_from_slice(&cipher);
    body.extend_from_slice(BOUNDARY);
    body.extend_from_slice(b"--\r\n");
    body
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The SOAP envelope inside a sealed body, its signature checked.
pub fn unwrap(sealer: &mut Sealer, body: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |what: &str| format!("a sealed answer is malformed ({what})");
    let length_key = b"Length=";
    let at = find(body, length_key, 0).ok_or_else(|| bad("no OriginalContent length"))?;
    let digits: String = body[at + length_key.len()..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| *b as char)
        .collect();
    let length: usize = digits.parse().map_err(|_| bad("a bad length"))?;
    let octets = b"application/octet-stream\r\n";
    let start = find(body, octets, at).ok_or_else(|| bad("no encrypted part"))? + octets.len();
    let header_len = body
        .get(start..start + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .ok_or_else(|| bad("cut short"))?;
    if header_len != 16 {
        return Err(bad("an unexpected signature length"));
    }
    let signature: [u8; 16] = body
        .get(start + 4..start + 20)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| bad("cut short"))?;
    let cipher = (start + 20)
        .checked_add(length)
        .and_then(|end| body.get(start + 20..end))
        .ok_or_else(|| bad("shorter than its stated length"))?;
    sealer.unseal(&signature, cipher).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::winrm::ntlm::Side;

    #[test]
    fn wrapped_messages_unwrap_and_tampering_is_caught() {
        let key = [7u8; 16];
        let (mut a, mut b) = (
            Sealer::new(&key, Side::Client),
            Sealer::new(&key, Side::Client),
        );
        let soap = "<s:Envelope>こんにちは</s:Envelope>".as_bytes();
        let body = wrap(&mut a, soap);
        assert!(body.ends_with(b"--Encrypted Boundary--\r\n"));
        assert!(
            !body.windows(soap.len()).any(|w| w == soap),
            "sealed, not plain"
        );
        assert_eq!(unwrap(&mut b, &body).unwrap(), soap);
        let mut body = wrap(&mut a, soap);
        let n = body.len();
        body[n - 30] ^= 1;
        assert!(unwrap(&mut b, &body).unwrap_err().contains("integrity"));
        assert!(unwrap(&mut b, b"garbage").is_err());
        // A stated length near usize::MAX is an error, not an overflow.
        let stated = format!("Length={}", soap.len());
        let at = find(&body, stated.as_bytes(), 0).unwrap();
        let mut huge = body[..at].to_vec();
        huge.extend_from_slice(b"Length=18446744073709551615");
        huge.extend_from_slice(&body[at + stated.len()..]);
        let err = unwrap(&mut b, &huge).unwrap_err();
        assert!(err.contains("stated length"), "{err}");
    }
}
