//! NTLMv2 ([MS-NLMP]) as a WinRM client needs it: the response to a
//! server's challenge, the session keys, and message sealing (RC4 with an
//! HMAC-MD5 checksum) for `application/HTTP-SPNEGO-session-encrypted`
//! bodies over plain HTTP. Legacy crypto by the protocol's definition; it
//! protects the transport to hosts that only offer NTLM, nothing else.
//! Checked against the protocol's published example (§4.2.4).

use hmac::{KeyInit, Mac};
use md4::Digest;

type HmacMd5 = hmac::Hmac<md5::Md5>;

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <HmacMd5 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// NTOWFv1: MD4 of the UTF-16LE password.
pub fn ntowf_v1(password: &str) -> [u8; 16] {
    md4::Md4::digest(utf16le(password)).into()
}

/// NTOWFv2 (the NTLMv2 response key): HMAC-MD5 over the upper-cased user
/// and the domain as given.
pub fn ntowf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let who = utf16le(&format!("{}{domain}", user.to_uppercase()));
    hmac_md5(&ntowf_v1(password), &[&who])
}

/// What the client answers a challenge with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ntlmv2Response {
    /// NTProofStr followed by the client blob.
    pub nt_response: Vec<u8>,
    pub lm_response: Vec<u8>,
    /// The key-exchange key from which the exported session key is unwrapped.
    pub session_base_key: [u8; 16],
}

/// The NTLMv2 and LMv2 responses (§3.3.2) for a challenge; `time` is the
/// FILETIME (100 ns since 1601) and `target_info` the AV pairs as sent
/// (MsvAvEOL included).
pub fn ntlmv2_response(
    response_key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: u64,
    target_info: &[u8],
) -> Ntlmv2Response {
    let mut blob = vec![1u8, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&time.to_le_bytes());
    blob.extend_from_slice(client_challenge);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(target_info);
    blob.extend_from_slice(&[0; 4]);
    let proof = hmac_md5(response_key, &[server_challenge, &blob]);
    let mut nt_response = proof.to_vec();
    nt_response.extend_from_slice(&blob);
    let mut lm_response = hmac_md5(response_key, &[server_challenge, client_challenge]).to_vec();
    lm_response.extend_from_slice(client_challenge);
    Ntlmv2Response {
        nt_response,
        lm_response,
        session_base_key: hmac_md5(response_key, &[&proof]),
    }
}

/// The MIC over the three handshake messages (AUTHENTICATE with its MIC
/// field zeroed), keyed with the exported session key.
pub fn mic(exported: &[u8; 16], messages: &[&[u8]]) -> [u8; 16] {
    hmac_md5(exported, messages)
}

/// RC4, the stream cipher NTLM seals with (its state carries across
/// messages of one direction).
#[derive(Clone)]
pub struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    pub fn new(key: &[u8]) -> Rc4 {
        let mut s = [0u8; 256];
        for (i, b) in s.iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
            s.swap(i, j as usize);
        }
        Rc4 { s, i: 0, j: 0 }
    }

    pub fn apply(&mut self, data: &mut [u8]) {
        for b in data {
            self.i = self.i.wrapping_add(1);
            self.j = self.j.wrapping_add(self.s[self.i as usize]);
            self.s.swap(self.i as usize, self.j as usize);
            let k = self.s[self.s[self.i as usize].wrapping_add(self.s[self.j as usize]) as usize];
            *b ^= k;
        }
    }
}

/// The exported session key sent wrapped under the key-exchange key (KEY_EXCH).
pub fn encrypt_session_key(key_exchange_key: &[u8; 16], exported: &[u8; 16]) -> [u8; 16] {
    let mut out = *exported;
    Rc4::new(key_exchange_key).apply(&mut out);
    out
}

fn derived_key(exported: &[u8; 16], magic: &[u8]) -> [u8; 16] {
    md5::Md5::digest([exported.as_slice(), magic].concat()).into()
}

/// Which side's keys: what the client sends is sealed with client keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Signing and sealing keys (128-bit, extended session security).
pub fn sign_key(exported: &[u8; 16], side: Side) -> [u8; 16] {
    derived_key(
        exported,
        match side {
            Side::Client => b"session key to client-to-server signing key magic constant\0",
            Side::Server => b"session key to server-to-client signing key magic constant\0",
        },
    )
}

pub fn seal_key(exported: &[u8; 16], side: Side) -> [u8; 16] {
    derived_key(
        exported,
        match side {
            Side::Client => b"session key to client-to-server sealing key magic constant\0",
            Side::Server => b"session key to server-to-client sealing key magic constant\0",
        },
    )
}

/// One direction of a sealed session: RC4 state, signing key, sequence.
#[derive(Clone)]
pub struct Sealer {
    rc4: Rc4,
    sign_key: [u8; 16],
    seq: u32,
}

/// A sealed message whose checksum did not match (tampered, or keys out of
/// step).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an NTLM-sealed message failed its integrity check (sequence {0})")]
pub struct BadSeal(pub u32);

impl Sealer {
    pub fn new(exported: &[u8; 16], side: Side) -> Sealer {
        Sealer {
            rc4: Rc4::new(&seal_key(exported, side)),
            sign_key: sign_key(exported, side),
            seq: 0,
        }
    }

    fn checksum(&mut self, seq: u32, plain: &[u8]) -> [u8; 8] {
        let mac = hmac_md5(&self.sign_key, &[&seq.to_le_bytes(), plain]);
        let mut sum: [u8; 8] = mac[..8].try_into().expect("16 bytes");
        // With KEY_EXCH (always negotiated here) the checksum is encrypted
        // too, with the same RC4 state, after the message.
        self.rc4.apply(&mut sum);
        sum
    }

    /// Encrypts `plain`; the 16-byte signature and the ciphertext.
    pub fn seal(&mut self, plain: &[u8]) -> ([u8; 16], Vec<u8>) {
        let mut cipher = plain.to_vec();
        self.rc4.apply(&mut cipher);
        let seq = self.seq;
        let sum = self.checksum(seq, plain);
        self.seq = self.seq.wrapping_add(1);
        let mut sig = [0u8; 16];
        sig[..4].copy_from_slice(&1u32.to_le_bytes());
        sig[4..12].copy_from_slice(&sum);
        sig[12..].copy_from_slice(&seq.to_le_bytes());
        (sig, cipher)
    }

    /// Decrypts a message from the other side and checks its signature.
    pub fn unseal(&mut self, sig: &[u8; 16], cipher: &[u8]) -> Result<Vec<u8>, BadSeal> {
        let mut plain = cipher.to_vec();
        self.rc4.apply(&mut plain);
        let seq = self.seq;
        let sum = self.checksum(seq, &plain);
        self.seq = self.seq.wrapping_add(1);
        let ok =
            sig[..4] == 1u32.to_le_bytes() && sig[4..12] == sum && sig[12..] == seq.to_le_bytes();
        if ok { Ok(plain) } else { Err(BadSeal(seq)) }
    }
}

#[cfg(test)]
mod tests {
    //! [MS-NLMP] §4.2.4 (NTLMv2): User "User", domain "Domain", password
    //! "Password", server challenge 0123456789abcdef, client challenge
    //! aa…aa, time 0, random session key 55…55, AV pairs Domain/Server.
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    const TARGET_INFO: &str =
        "02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000";

    #[test]
    fn response_keys_match_the_published_example() {
        assert_eq!(
            ntowf_v1("Password").to_vec(),
            hex("a4f49c406510bdcab6824ee7c30fd852")
        );
        let key = ntowf_v2("Password", "User", "Domain");
        assert_eq!(key.to_vec(), hex("0c868a403bfd7a93a3001ef22ef02e3f"));
        let r = ntlmv2_response(
            &key,
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            &[0xaa; 8],
            0,
            &hex(TARGET_INFO),
        );
        assert_eq!(r.nt_response[..16], hex("68cd0ab851e51c96aabc927bebef6a1c"));
        assert_eq!(
            r.nt_response[16..],
            hex("01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000\
                 02000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000")
        );
        assert_eq!(
            r.lm_response,
            hex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
        );
        assert_eq!(
            r.session_base_key.to_vec(),
            hex("8de40ccadbc14a82f15cb0ad0de95ca3")
        );
        assert_eq!(
            encrypt_session_key(&r.session_base_key, &[0x55; 16]).to_vec(),
            hex("c5dad2544fc9799094ce1ce90bc9d03e")
        );
    }

    #[test]
    fn session_keys_match_the_published_example() {
        let exported = [0x55; 16];
        assert_eq!(
            seal_key(&exported, Side::Client).to_vec(),
            hex("59f600973cc4960a25480a7c196e4c58")
        );
        assert_eq!(
            sign_key(&exported, Side::Client).to_vec(),
            hex("4788dc861b4782f35d43fd98fe1a2d39")
        );
        assert_eq!(
            seal_key(&exported, Side::Server).to_vec(),
            hex("9355f3a957c1583d25c4c2f11e40390e")
        );
        assert_eq!(
            sign_key(&exported, Side::Server).to_vec(),
            hex("d04d6f10741041d1d246d64188d7a8ad")
        );
    }

    #[test]
    fn sealing_matches_the_published_example_and_round_trips() {
        let exported = [0x55; 16];
        let plain = utf16le("Plaintext");
        let (sig, cipher) = Sealer::new(&exported, Side::Client).seal(&plain);
        assert_eq!(cipher, hex("54e50165bf1936dc996020c1811b0f06fb5f"));
        assert_eq!(sig.to_vec(), hex("01000000 7fb38ec5c55d4976 00000000"));

        // The receiving side, keyed the same way, reads a sequence back and
        // refuses a flipped byte.
        let mut sender = Sealer::new(&exported, Side::Client);
        let mut receiver = Sealer::new(&exported, Side::Client);
        for n in 0..3u8 {
            let msg = vec![n; 40];
            let (sig, cipher) = sender.seal(&msg);
            assert_eq!(receiver.unseal(&sig, &cipher).unwrap(), msg);
        }
        let (sig, mut cipher) = sender.seal(b"<s:Envelope/>");
        cipher[3] ^= 1;
        assert_eq!(receiver.unseal(&sig, &cipher), Err(BadSeal(3)));
    }
}
