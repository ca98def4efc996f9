//! Crockford Base32 symbols and a Luhn mod 32 check symbol, shared by the meldcode and the
//! paper recovery key. Text handling only; no secrets are kept here.

/// The 32 symbols, in value order. No I, L, O or U: easy to read aloud and to retype.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The value of one typed character, accepting lower case and the usual confusions.
pub fn value_of(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET.iter().position(|&a| a as char == c).map(|p| p as u8)
}

/// Symbols of `input` with separators (spaces, hyphens, dots, underscores) dropped;
/// `None` if anything else is not a Crockford symbol.
pub fn normalize(input: &str) -> Option<Vec<u8>> {
    input
        .chars()
        .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '.' | '_')))
        .map(value_of)
        .collect()
}

pub fn symbol(value: u8) -> char {
    ALPHABET[(value & 31) as usize] as char
}

/// Luhn mod N (N = 32) check value over symbol values: catches every single wrong symbol
/// and most swaps of neighbours, before any lookup is made.
pub fn luhn_check(values: &[u8]) -> u8 {
    const N: u32 = 32;
    let mut factor = 2;
    let mut sum = 0u32;
    for &v in values.iter().rev() {
        let mut addend = factor * u32::from(v);
        factor = if factor == 2 { 1 } else { 2 };
        addend = addend / N + addend % N;
        sum += addend;
    }
    ((N - sum % N) % N) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusable_characters_are_read_as_intended() {
        assert_eq!(normalize("o-i l"), Some(vec![0, 1, 1]));
        assert_eq!(normalize("abc"), Some(vec![10, 11, 12]));
        assert_eq!(normalize("U"), None);
        assert_eq!(normalize("é"), None);
    }

    #[test]
    fn luhn_catches_every_single_substitution() {
        let base: Vec<u8> = (0..24).map(|i| (i * 7 % 32) as u8).collect();
        let check = luhn_check(&base);
        for pos in 0..base.len() {
            for v in 0..32u8 {
                if v == base[pos] {
                    continue;
                }
                let mut changed = base.clone();
                changed[pos] = v;
                assert_ne!(luhn_check(&changed), check, "pos {pos} value {v}");
            }
        }
    }
}
