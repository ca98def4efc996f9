//! The organisation's recovery key on paper: a version byte and the X25519 private key in
//! Crockford Base32, four-symbol groups, a Luhn check symbol per line, and a fingerprint of
//! the public key. Shown once in the browser; never stored, never logged.

use zeroize::Zeroizing;

use super::crockford::{luhn_check, normalize, symbol};
use super::keys::{key_id, CoordinatorSecret};
use super::CryptoError;

const PAPER_VERSION: u8 = 1;
const LINE_SYMBOLS: usize = 16;

/// Bytes to 5-bit symbol values, most significant bit first, zero-padded at the end.
fn to_symbols(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() * 8 / 5 + 1));
    let (mut acc, mut bits) = (0u16, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(((acc >> bits) & 31) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(((acc << (5 - bits)) & 31) as u8);
    }
    out
}

fn from_symbols(symbols: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let (mut acc, mut bits) = (0u16, 0u32);
    for &s in symbols {
        acc = (acc << 5) | u16::from(s & 31);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            if out.len() < len {
                out.push((acc >> bits) as u8);
            }
        }
        acc &= (1 << bits) - 1;
    }
    out
}

/// The version byte of an organisation's export key (`meldpunt organisation export`) on
/// paper: written like the recovery key, but a key of one kind typed for the other is
/// refused by its first symbols instead of failing later.
pub const EXPORT_KEY_VERSION: u8 = 2;

/// The paper form: one string per line, e.g. `ABCD-EFGH-JKMN-PQRS-7`.
pub fn encode(secret: &CoordinatorSecret) -> Zeroizing<Vec<String>> {
    encode_key(PAPER_VERSION, &secret.to_zeroizing_bytes())
}

/// Any 32-byte key in the paper form, after the version byte `version`.
pub fn encode_key(version: u8, key: &[u8; 32]) -> Zeroizing<Vec<String>> {
    let mut raw = Zeroizing::new(vec![version]);
    raw.extend_from_slice(key);
    let symbols = to_symbols(&raw);
    let lines = symbols
        .chunks(LINE_SYMBOLS)
        .map(|line| {
            let mut s = String::with_capacity(LINE_SYMBOLS + 6);
            for (i, group) in line.chunks(4).enumerate() {
                if i > 0 {
                    s.push('-');
                }
                s.extend(group.iter().map(|&v| symbol(v)));
            }
            s.push('-');
            s.push(symbol(luhn_check(line)));
            s
        })
        .collect();
    Zeroizing::new(lines)
}

/// What went wrong reading a typed-in recovery key; `Line(n)` points at the line to recheck.
#[derive(Debug, PartialEq, Eq)]
pub enum PaperError {
    Characters,
    Length,
    Line(usize),
    Version,
}

pub fn decode(typed: &str) -> Result<CoordinatorSecret, PaperError> {
    let raw = decode_key(typed, PAPER_VERSION)?;
    CoordinatorSecret::from_slice(raw.as_ref()).map_err(|_: CryptoError| PaperError::Length)
}

/// A 32-byte key typed from its paper form, refused unless written after `version`.
pub fn decode_key(typed: &str, version: u8) -> Result<Zeroizing<[u8; 32]>, PaperError> {
    let values = Zeroizing::new(normalize(typed).ok_or(PaperError::Characters)?);
    // 33 bytes make 53 symbols: three full lines of 16 and one of 5, each with a check.
    if values.len() != 3 * (LINE_SYMBOLS + 1) + 6 {
        return Err(PaperError::Length);
    }
    let mut data = Zeroizing::new(Vec::with_capacity(53));
    for (n, line) in values.chunks(LINE_SYMBOLS + 1).enumerate() {
        let (body, check) = line.split_at(line.len() - 1);
        if luhn_check(body) != check[0] {
            return Err(PaperError::Line(n + 1));
        }
        data.extend_from_slice(body);
    }
    let raw = from_symbols(&data, 33);
    if raw.first() != Some(&version) {
        return Err(PaperError::Version);
    }
    let key: [u8; 32] = raw[1..].try_into().map_err(|_| PaperError::Length)?;
    Ok(Zeroizing::new(key))
}

/// Fingerprint of a public key for people to compare: `AB12 CD34 EF56 7890`.
pub fn fingerprint(public: &[u8; 32]) -> String {
    let id = hex::encode_upper(key_id(public));
    id.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_key_round_trips_in_any_spelling() {
        let key = CoordinatorSecret::generate();
        let lines = encode(&key);
        assert_eq!(lines.len(), 4);
        let typed = lines.join("\n").to_lowercase().replace('-', " ");
        let back = decode(&typed).unwrap();
        assert_eq!(back.public_bytes(), key.public_bytes());
    }

    #[test]
    fn a_mistyped_symbol_names_its_line() {
        let key = CoordinatorSecret::generate();
        let mut lines = encode(&key).to_vec();
        let mut chars: Vec<char> = lines[1].chars().collect();
        chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        lines[1] = chars.into_iter().collect();
        assert_eq!(decode(&lines.join("\n")).unwrap_err(), PaperError::Line(2));
        assert_eq!(decode("ABC").unwrap_err(), PaperError::Length);
        assert_eq!(decode("ABC!").unwrap_err(), PaperError::Characters);
    }

    #[test]
    fn an_export_key_is_not_taken_for_a_recovery_key_or_back() {
        let key = [9u8; 32];
        let lines = encode_key(EXPORT_KEY_VERSION, &key).join("\n");
        assert_eq!(*decode_key(&lines, EXPORT_KEY_VERSION).unwrap(), key);
        assert_eq!(decode(&lines).unwrap_err(), PaperError::Version);
        let recovery = encode(&CoordinatorSecret::generate()).join("\n");
        assert_eq!(
            decode_key(&recovery, EXPORT_KEY_VERSION).unwrap_err(),
            PaperError::Version
        );
    }

    #[test]
    fn symbol_packing_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_symbols(&to_symbols(&bytes), 256).as_slice(), bytes.as_slice());
    }
}
