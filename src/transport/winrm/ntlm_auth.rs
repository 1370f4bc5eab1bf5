//! The NTLM handshake ([MS-NLMP] 2.2.1): NEGOTIATE, the server's
//! CHALLENGE, and AUTHENTICATE with an NTLMv2 response, a MIC and a random
//! exported session key (KEY_EXCH), after which messages are sealed.

use super::ntlm::{self, Sealer, Side};

pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

pub const UNICODE: u32 = 0x0000_0001;
pub const REQUEST_TARGET: u32 = 0x0000_0004;
pub const SIGN: u32 = 0x0000_0010;
pub const SEAL: u32 = 0x0000_0020;
pub const NTLM: u32 = 0x0000_0200;
pub const ALWAYS_SIGN: u32 = 0x0000_8000;
pub const EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
pub const TARGET_INFO: u32 = 0x0080_0000;
pub const VERSION: u32 = 0x0200_0000;
pub const KEY_128: u32 = 0x2000_0000;
pub const KEY_EXCH: u32 = 0x4000_0000;
pub const KEY_56: u32 = 0x8000_0000;

/// What patchwave asks for: NTLMv2 with sealing and signing, 128-bit keys.
pub const CLIENT_FLAGS: u32 = UNICODE
    | REQUEST_TARGET
    | SIGN
    | SEAL
    | NTLM
    | ALWAYS_SIGN
    | EXTENDED_SESSION_SECURITY
    | TARGET_INFO
    | VERSION
    | KEY_128
    | KEY_EXCH
    | KEY_56;

/// The flags a server must grant for patchwave to go on: without them the
/// session could not be sealed.
const REQUIRED: u32 = SEAL | SIGN | EXTENDED_SESSION_SECURITY | KEY_128 | KEY_EXCH;

/// Windows 10 build 19041, NTLM revision 15: the version patchwave claims.
const CLIENT_VERSION: [u8; 8] = [10, 0, 0x61, 0x4a, 0, 0, 0, 15];

const AV_EOL: u16 = 0;
const AV_FLAGS: u16 = 6;
const AV_TIMESTAMP: u16 = 7;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The bytes a security buffer (length, max length, offset) points at.
fn field(b: &[u8], at: usize) -> Option<&[u8]> {
    let len = u16_at(b, at)? as usize;
    let offset = u32_at(b, at + 4)? as usize;
    b.get(offset..offset.checked_add(len)?)
}

/// The NEGOTIATE message (no domain or workstation sent).
pub fn negotiate() -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&CLIENT_FLAGS.to_le_bytes());
    m.extend_from_slice(&[0; 8]); // domain
    m.extend_from_slice(&[0; 8]); // workstation
    m.extend_from_slice(&CLIENT_VERSION);
    m
}

/// What a CHALLENGE says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub flags: u32,
    pub server_challenge: [u8; 8],
    pub target_info: Vec<u8>,
}

pub fn parse_challenge(b: &[u8]) -> Result<Challenge, String> {
    let bad = |what: &str| format!("the server's NTLM challenge is malformed ({what})");
    if b.get(..8) != Some(SIGNATURE) || u32_at(b, 8) != Some(2) {
        return Err(bad("not a CHALLENGE message"));
    }
    let flags = u32_at(b, 20).ok_or_else(|| bad("too short"))?;
    let server_challenge: [u8; 8] = b
        .get(24..32)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| bad("too short"))?;
    let target_info = field(b, 40)
        .ok_or_else(|| bad("target info out of bounds"))?
        .to_vec();
    if flags & REQUIRED != REQUIRED {
        return Err(format!(
            "the server will not seal NTLM messages (flags {flags:#010x}); patchwave needs sealing over HTTP, or use https"
        ));
    }
    Ok(Challenge {
        flags,
        server_challenge,
        target_info,
    })
}

/// The AV pairs as (id, value), up to MsvAvEOL.
pub fn av_pairs(info: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let (Some(id), Some(len)) = (u16_at(info, at), u16_at(info, at + 2)) else {
            return Err("the server's NTLM target info is cut short".into());
        };
        if id == AV_EOL {
            return Ok(out);
        }
        let value = info
            .get(at + 4..at + 4 + len as usize)
            .ok_or("the server's NTLM target info is cut short")?;
        out.push((id, value.to_vec()));
        at += 4 + len as usize;
    }
}

fn encode_av_pairs(pairs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, v) in pairs {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
        out.extend_from_slice(v);
    }
    out.extend_from_slice(&[0; 4]);
    out
}

/// The current time as a FILETIME (100 ns ticks since 1601-01-01).
pub fn filetime_now() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (unix.as_nanos() / 100) as u64 + 116_444_736_000_000_000
}

/// A finished handshake: the AUTHENTICATE message to send, and the two
/// directions' sealers.
pub struct Authenticated {
    pub message: Vec<u8>,
    pub outgoing: Sealer,
    pub incoming: Sealer,
}

/// Secrets and randomness for one handshake (random in use; fixed in tests).
pub struct Credentials<'a> {
    pub user: &'a str,
    pub domain: &'a str,
    pub password: &'a str,
    pub client_challenge: [u8; 8],
    pub exported_session_key: [u8; 16],
}

fn security_buffer(header: &mut Vec<u8>, payload: &mut Vec<u8>, base: usize, data: &[u8]) {
    header.extend_from_slice(&(data.len() as u16).to_le_bytes());
    header.extend_from_slice(&(data.len() as u16).to_le_bytes());
    header.extend_from_slice(&((base + payload.len()) as u32).to_le_bytes());
    payload.extend_from_slice(data);
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// AUTHENTICATE for `challenge` (answering `negotiate`), with a MIC over
/// all three messages.
pub fn authenticate(
    negotiate: &[u8],
    challenge_bytes: &[u8],
    challenge: &Challenge,
    c: &Credentials<'_>,
) -> Result<Authenticated, String> {
    let mut pairs = av_pairs(&challenge.target_info)?;
    let server_time = pairs
        .iter()
        .find(|(id, _)| *id == AV_TIMESTAMP)
        .and_then(|(_, v)| v.as_slice().try_into().ok())
        .map(u64::from_le_bytes);
    // MsvAvFlags bit 2: a MIC is present.
    match pairs.iter_mut().find(|(id, _)| *id == AV_FLAGS) {
        Some((_, v)) if v.len() == 4 => {
            let f = u32::from_le_bytes(v.as_slice().try_into().expect("4 bytes")) | 2;
            *v = f.to_le_bytes().to_vec();
        }
        _ => pairs.push((AV_FLAGS, 2u32.to_le_bytes().to_vec())),
    }
    let target_info = encode_av_pairs(&pairs);
    let key = ntlm::ntowf_v2(c.password, c.user, c.domain);
    let r = ntlm::ntlmv2_response(
        &key,
        &challenge.server_challenge,
        &c.client_challenge,
        server_time.unwrap_or_else(filetime_now),
        &target_info,
    );
    // With the server's timestamp, the LM response is zeros ([MS-NLMP] 3.1.5.1.2).
    let lm = if server_time.is_some() {
        vec![0u8; 24]
    } else {
        r.lm_response.clone()
    };
    let encrypted_key = ntlm::encrypt_session_key(&r.session_base_key, &c.exported_session_key);
    let flags = CLIENT_FLAGS & challenge.flags;
    const HEADER: usize = 88;
    let mut header = Vec::with_capacity(HEADER);
    let mut payload = Vec::new();
    header.extend_from_slice(SIGNATURE);
    header.extend_from_slice(&3u32.to_le_bytes());
    security_buffer(&mut header, &mut payload, HEADER, &lm);
    security_buffer(&mut header, &mut payload, HEADER, &r.nt_response);
    security_buffer(&mut header, &mut payload, HEADER, &utf16le(c.domain));
    security_buffer(&mut header, &mut payload, HEADER, &utf16le(c.user));
    security_buffer(&mut header, &mut payload, HEADER, &[]);
    security_buffer(&mut header, &mut payload, HEADER, &encrypted_key);
    header.extend_from_slice(&flags.to_le_bytes());
    header.extend_from_slice(&CLIENT_VERSION);
    let mic_at = header.len();
    header.extend_from_slice(&[0; 16]);
    let mut message = header;
    message.extend_from_slice(&payload);
    let mic = ntlm::mic(
        &c.exported_session_key,
        &[negotiate, challenge_bytes, &message],
    );
    message[mic_at..mic_at + 16].copy_from_slice(&mic);
    Ok(Authenticated {
        message,
        outgoing: Sealer::new(&c.exported_session_key, Side::Client),
        incoming: Sealer::new(&c.exported_session_key, Side::Server),
    })
}

/// What an AUTHENTICATE message carries, read by a server (tests act as one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateFields {
    pub user: String,
    pub domain: String,
    pub nt_response: Vec<u8>,
    pub encrypted_session_key: Vec<u8>,
    pub mic: [u8; 16],
}

pub fn parse_authenticate(b: &[u8]) -> Result<AuthenticateFields, String> {
    let bad = || "not an NTLM AUTHENTICATE message".to_string();
    if b.get(..8) != Some(SIGNATURE) || u32_at(b, 8) != Some(3) {
        return Err(bad());
    }
    let text = |at| {
        let raw = field(b, at).ok_or_else(bad)?;
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Ok::<_, String>(String::from_utf16_lossy(&units))
    };
    Ok(AuthenticateFields {
        nt_response: field(b, 20).ok_or_else(bad)?.to_vec(),
        domain: text(28)?,
        user: text(36)?,
        encrypted_session_key: field(b, 52).ok_or_else(bad)?.to_vec(),
        mic: b
            .get(72..88)
            .and_then(|m| m.try_into().ok())
            .ok_or_else(bad)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_asks_for_sealing() {
        let n = negotiate();
        assert_eq!(&n[..8], SIGNATURE);
        let flags = u32_at(&n, 12).unwrap();
        assert_eq!(flags & REQUIRED, REQUIRED);
    }

    #[test]
    fn malformed_challenges_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"NTLMSSP\0\x02\0\0\0",
            b"NTLMSSP\0\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ] {
            assert!(parse_challenge(bad).is_err());
        }
        // A target-info buffer pointing past the end.
        let mut c = vec![0u8; 56];
        c[..8].copy_from_slice(SIGNATURE);
        c[8] = 2;
        c[20..24].copy_from_slice(&CLIENT_FLAGS.to_le_bytes());
        c[40..42].copy_from_slice(&100u16.to_le_bytes());
        c[44..48].copy_from_slice(&50u32.to_le_bytes());
        assert!(parse_challenge(&c).unwrap_err().contains("out of bounds"));
        assert!(av_pairs(&[2, 0, 10, 0, 1]).is_err());
        assert!(parse_authenticate(&[0; 20]).is_err());
    }
}
