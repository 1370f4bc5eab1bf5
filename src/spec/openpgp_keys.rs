//! OpenPGP public keys as a fleet repository holds them: ASCII armor, as
//! `gpg --armor --export` writes it (and `https://github.com/web-flow.gpg`
//! serves it). Read here, without GnuPG, so `validate` can check the allowed
//! signers anywhere, and so signature checks can hand `gpgv` the binary
//! keyring it needs (gpgv reads no armor).
//!
//! The allowed signers for `format: openpgp` are a file of one or more armored
//! public keys, or a directory whose `*.asc` files each hold some.

use std::path::{Path, PathBuf};

use base64::Engine;

/// The extension of key files read from an allowed-signers directory.
pub const KEY_FILE_EXTENSION: &str = "asc";

/// Public keys decoded from armor.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublicKeys {
    /// The keys' OpenPGP packets, in file order: a keyring gpgv reads.
    pub keyring: Vec<u8>,
    /// How many primary keys the keyring holds.
    pub count: usize,
}

impl PublicKeys {
    /// Adds the keys of one more armored text.
    pub fn extend(&mut self, other: PublicKeys) {
        self.keyring.extend(other.keyring);
        self.count += other.count;
    }
}

/// Parses every `PUBLIC KEY BLOCK` in an armored text (text around the blocks
/// is ignored, so a file may carry comments). A private key, a signature, a
/// binary keyring, a damaged block, or no key at all is an error that says so.
pub fn parse_armored(bytes: &[u8]) -> Result<PublicKeys, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        "is not ASCII armor (a binary keyring?); export keys with `gpg --armor --export <fingerprint>`"
            .to_string()
    })?;
    let mut keys = PublicKeys::default();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end()));
    while let Some((n, line)) = lines.next() {
        let Some(kind) = line
            .strip_prefix("-----BEGIN PGP ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        if kind != "PUBLIC KEY BLOCK" {
            return Err(not_a_public_key(n, kind));
        }
        let packets = block_body(&mut lines, n)?;
        let count = count_public_keys(&packets).map_err(|e| format!("line {n}: {e}"))?;
        keys.extend(PublicKeys {
            keyring: packets,
            count,
        });
    }
    if keys.count == 0 {
        return Err("holds no ASCII-armored OpenPGP public key (`-----BEGIN PGP PUBLIC KEY BLOCK-----`); export one with `gpg --armor --export <fingerprint>`".into());
    }
    Ok(keys)
}

fn not_a_public_key(line: usize, kind: &str) -> String {
    if kind.contains("PRIVATE KEY") {
        format!(
            "line {line}: holds a PRIVATE key; never commit one: remove it, and treat the key as compromised"
        )
    } else {
        format!(
            "line {line}: holds a `{kind}`, not a public key; export keys with `gpg --armor --export <fingerprint>`"
        )
    }
}

/// The decoded packets of the block that began at line `start`: optional
/// `Key: value` headers, a blank line, base64, an optional `=CRC24`, the END line.
fn block_body<'a>(
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
    start: usize,
) -> Result<Vec<u8>, String> {
    let mut in_headers = true;
    let mut base64 = String::new();
    let mut checksum = None;
    for (_, line) in lines.by_ref() {
        if line == "-----END PGP PUBLIC KEY BLOCK-----" {
            return decode(&base64, checksum, start);
        }
        if in_headers {
            // Base64 has no `:`, so a line with one is a header.
            if line.contains(':') {
                continue;
            }
            in_headers = false;
            if line.is_empty() {
                continue;
            }
        }
        match line.strip_prefix('=') {
            Some(crc) if crc.len() == 4 => checksum = Some(crc),
            _ => base64.push_str(line),
        }
    }
    Err(format!(
        "line {start}: the key block has no `-----END PGP PUBLIC KEY BLOCK-----` line (cut off when copied?)"
    ))
}

fn decode(base64: &str, checksum: Option<&str>, start: usize) -> Result<Vec<u8>, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let data = engine
        .decode(base64.as_bytes())
        .map_err(|e| format!("line {start}: the key block is not valid base64 ({e})"))?;
    if let Some(crc) = checksum {
        let expected = engine
            .decode(crc)
            .map_err(|_| format!("line {start}: the key block's checksum is not base64"))?;
        let actual = crc24(&data).to_be_bytes();
        if expected[..] != actual[1..] {
            return Err(format!(
                "line {start}: the key block's checksum does not match (damaged when copied?); export the key again"
            ));
        }
    }
    Ok(data)
}

/// The armor checksum (RFC 4880 section 6.1).
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &byte in data {
        crc ^= u32::from(byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

const TAG_SECRET_KEY: u8 = 5;
const TAG_PUBLIC_KEY: u8 = 6;
const TAG_SECRET_SUBKEY: u8 = 7;

/// How many primary public keys a packet sequence holds; it must start with
/// one, hold no secret key material, and every packet must fit.
fn count_public_keys(data: &[u8]) -> Result<usize, String> {
    let tags = packet_tags(data)?;
    if tags
        .iter()
        .any(|t| matches!(*t, TAG_SECRET_KEY | TAG_SECRET_SUBKEY))
    {
        return Err(
            "holds PRIVATE key material; never commit it: remove it, and treat the key as compromised"
                .into(),
        );
    }
    if tags.first() != Some(&TAG_PUBLIC_KEY) {
        return Err("the key block does not start with a public key".into());
    }
    Ok(tags.iter().filter(|t| **t == TAG_PUBLIC_KEY).count())
}

/// The tag of each OpenPGP packet in `data` (RFC 4880 section 4.2).
fn packet_tags(data: &[u8]) -> Result<Vec<u8>, String> {
    let damaged = || "the key block is damaged (a packet is cut off)".to_string();
    let mut tags = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let ctb = data[at];
        if ctb & 0x80 == 0 {
            return Err("the key block does not hold OpenPGP packets".into());
        }
        let rest = &data[at + 1..];
        let (tag, header) = if ctb & 0x40 != 0 {
            (ctb & 0x3f, new_format_length(rest))
        } else {
            ((ctb >> 2) & 0x0f, old_format_length(ctb, rest))
        };
        let (length_octets, length) = header.ok_or_else(damaged)?;
        let end = (at + 1 + length_octets)
            .checked_add(length)
            .filter(|end| *end <= data.len())
            .ok_or_else(damaged)?;
        tags.push(tag);
        at = end;
    }
    Ok(tags)
}

/// A new-format packet's (length octets, body length); `None` when cut off or
/// of partial length (which key packets never use).
fn new_format_length(rest: &[u8]) -> Option<(usize, usize)> {
    let first = usize::from(*rest.first()?);
    match first {
        0..=191 => Some((1, first)),
        192..=223 => Some((2, ((first - 192) << 8) + usize::from(*rest.get(1)?) + 192)),
        255 => Some((5, be_length(rest.get(1..5)?))),
        _ => None,
    }
}

/// An old-format packet's (length octets, body length); `None` when cut off
/// or of indeterminate length.
fn old_format_length(ctb: u8, rest: &[u8]) -> Option<(usize, usize)> {
    let octets = match ctb & 0x03 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => return None,
    };
    Some((octets, be_length(rest.get(..octets)?)))
}

fn be_length(octets: &[u8]) -> usize {
    octets
        .iter()
        .fold(0usize, |n, b| (n << 8) | usize::from(*b))
}

/// The key files an allowed-signers path names on disk: the file itself, or
/// a directory's `*.asc` files (sorted), with the other files it holds.
pub fn key_files_on_disk(path: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    if !path.is_dir() {
        return Ok((vec![path.to_path_buf()], Vec::new()));
    }
    let mut keys = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        // Symbolic links are listed, for `validate` to refuse.
        if entry.file_type()?.is_dir() {
            continue;
        }
        let file = entry.path();
        if is_key_file_name(&entry.file_name().to_string_lossy()) {
            keys.push(file);
        } else {
            others.push(file);
        }
    }
    keys.sort();
    others.sort();
    Ok((keys, others))
}

/// Whether a file in an allowed-signers directory is read as keys.
pub fn is_key_file_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|e| e == KEY_FILE_EXTENSION)
}

/// Whether a file not read from an allowed-signers directory is probably a
/// key saved under another name (GitHub serves its key as `web-flow.gpg`).
pub fn looks_like_key_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| ["gpg", "pgp", "key", "pub"].iter().any(|k| e == *k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ed25519 key, `gpg --armor --export` (see testdata/gpgv/README.md).
    const ALICE: &str = include_str!("../../testdata/gpgv/alice.asc");

    #[test]
    fn a_real_exported_key_parses_to_one_public_key() {
        let keys = parse_armored(ALICE.as_bytes()).unwrap();
        assert_eq!(keys.count, 1);
        assert_eq!(keys.keyring[0], 0x98, "an old-format public-key packet");
        // Two blocks in one file (`cat a.asc b.asc`, or `curl … >>`), with
        // comment lines around them, are both read.
        let two = format!("# Alice\n{ALICE}\n# Alice again\n{ALICE}");
        let both = parse_armored(two.as_bytes()).unwrap();
        assert_eq!(both.count, 2);
        assert_eq!(both.keyring.len(), 2 * keys.keyring.len());
        // CRLF line ends (a Windows checkout) do not matter.
        let crlf = ALICE.replace('\n', "\r\n");
        assert_eq!(parse_armored(crlf.as_bytes()).unwrap(), keys);
    }

    #[test]
    fn what_is_not_an_armored_public_key_is_refused_with_the_reason() {
        let refused = |text: &str| parse_armored(text.as_bytes()).unwrap_err();
        assert!(
            refused("alice@example.com namespaces=\"git\" ssh-ed25519 AAAA\n")
                .starts_with("holds no ASCII-armored OpenPGP public key")
        );
        assert!(
            parse_armored(&[0x99, 0x00, 0xff, 0xfe])
                .unwrap_err()
                .starts_with("is not ASCII armor")
        );
        let private = ALICE.replace("PUBLIC KEY BLOCK", "PRIVATE KEY BLOCK");
        assert!(refused(&private).contains("holds a PRIVATE key"));
        let signature = ALICE.replace("PUBLIC KEY BLOCK", "SIGNATURE");
        assert!(refused(&signature).contains("holds a `SIGNATURE`, not a public key"));
        let cut = &ALICE[..ALICE.find("-----END").unwrap()];
        assert!(refused(cut).contains("has no `-----END PGP PUBLIC KEY BLOCK-----` line"));
        // One changed character in the body: the checksum catches it.
        let body = ALICE.lines().nth(2).unwrap();
        let changed = body.replacen(&body[..1], if &body[..1] == "A" { "B" } else { "A" }, 1);
        assert!(refused(&ALICE.replace(body, &changed)).contains("checksum does not match"));
        // Without the checksum line (it is optional), a cut packet still shows.
        let no_crc: String = ALICE
            .lines()
            .filter(|l| !(l.starts_with('=') && l.len() == 5))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(parse_armored(no_crc.as_bytes()).unwrap().count, 1);
        let short: String = no_crc
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert!(refused(&short).contains("damaged"), "{}", refused(&short));
    }

    #[test]
    fn crc24_matches_gpgs_armor_checksum() {
        // The initial value, and the checksum gpg wrote for the test key.
        assert_eq!(crc24(&[]), 0x00B7_04CE);
        let keys = parse_armored(ALICE.as_bytes()).unwrap();
        let line = ALICE.lines().find(|l| l.starts_with('=')).unwrap();
        let crc = base64::engine::general_purpose::STANDARD
            .decode(&line[1..])
            .unwrap();
        assert_eq!(crc24(&keys.keyring).to_be_bytes()[1..], crc[..]);
    }

    #[test]
    fn secret_key_packets_and_garbage_are_refused() {
        // An old-format secret-key packet (tag 5), body of one byte.
        assert!(
            count_public_keys(&[0x94, 0x01, 0x00])
                .unwrap_err()
                .contains("PRIVATE")
        );
        // A new-format user ID packet (tag 13) first: not a key.
        assert!(
            count_public_keys(&[0xcd, 0x01, b'a'])
                .unwrap_err()
                .contains("does not start with a public key")
        );
        assert!(
            packet_tags(&[0x98, 0x05, 0x00])
                .unwrap_err()
                .contains("cut off")
        );
        assert!(
            packet_tags(&[0x41])
                .unwrap_err()
                .contains("does not hold OpenPGP packets")
        );
        // Two-octet and five-octet new-format lengths.
        let mut two = vec![0xc6, 192, 8];
        two.extend(vec![0; 200]);
        assert_eq!(packet_tags(&two).unwrap(), vec![6]);
        let mut five = vec![0xc6, 255, 0, 0, 0, 3];
        five.extend([1, 2, 3]);
        assert_eq!(packet_tags(&five).unwrap(), vec![6]);
    }
}
