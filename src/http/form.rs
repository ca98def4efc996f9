//! Strict parsing of `application/x-www-form-urlencoded` bodies (reading them is
//! [`crate::http::body`]'s). Unlike serde's lossy decoding it notices invalid UTF-8 and
//! repeated fields, so the user can be told, while every readable value is kept to show
//! back in the form.

use crate::i18n::Texts;

use percent_encoding::percent_decode;

/// `Debug` is redacted: a form may hold a report, a password or a meldcode.
#[derive(Default)]
pub struct Form {
    values: Vec<(String, String)>,
    /// Fields whose bytes were not valid UTF-8 (their value is kept, lossily decoded).
    pub invalid: Vec<String>,
    /// Fields sent more than once (`get` gives the first value, `all` every value).
    pub repeated: Vec<String>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Form")
            .field("fields", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        let mut form = Form::default();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let (key, key_ok) = decode(k);
            let (value, value_ok) = decode(v);
            if !key_ok {
                // A name we cannot read is no field of ours.
                continue;
            }
            form.add(key, value, value_ok);
        }
        form
    }

    /// Adds a field read from a multipart body.
    pub fn push(&mut self, key: String, raw: &[u8]) {
        match std::str::from_utf8(raw) {
            Ok(v) => self.add(key, v.to_string(), true),
            Err(_) => self.add(key, String::from_utf8_lossy(raw).into_owned(), false),
        }
    }

    fn add(&mut self, key: String, value: String, value_ok: bool) {
        // A NUL byte is no character anyone types, and PostgreSQL refuses it in text: it
        // becomes the replacement character, so a name or choice holding it is simply not a
        // valid one, and free text keeps everything else that was typed.
        let (key, value) = if key.contains('\0') || value.contains('\0') {
            (key.replace('\0', "\u{FFFD}"), value.replace('\0', "\u{FFFD}"))
        } else {
            (key, value)
        };
        if !value_ok && !self.invalid.contains(&key) {
            self.invalid.push(key.clone());
        }
        if self.values.iter().any(|(k, _)| *k == key) && !self.repeated.contains(&key) {
            self.repeated.push(key.clone());
        }
        // Browsers send CRLF line ends; count and store a line end as one character.
        self.values.push((key, value.replace("\r\n", "\n")));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a field that may repeat (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value, or an empty string.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }
}

fn decode(raw: &[u8]) -> (String, bool) {
    let plus: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Vec<u8> = percent_decode(&plus).collect();
    match String::from_utf8(bytes) {
        Ok(s) => (s, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    }
}

/// Characters that change how text around them is shown without being seen themselves:
/// bidirectional controls (U+202E makes "evil\u{202E}fdp.exe" read "evilexe.pdf"),
/// zero-width characters and the byte-order mark, soft hyphen, word joiners. Names shown to
/// other people (a coordinator's display name, an evidence file's name) must not hold them.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

// ---- what pages do with a parsed form -------------------------------------------------

/// One choice in a select or radio group.
pub struct Opt {
    pub code: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub type FieldErrors = Vec<(&'static str, String)>;

/// Checks a free-text field against the limit; `required` refuses an empty one.
pub fn check_text(
    errors: &mut FieldErrors,
    name: &'static str,
    value: &str,
    limit: usize,
    required: Option<&str>,
    t: &Texts,
) {
    if let Some(missing) = required {
        if value.trim().is_empty() {
            errors.push((name, missing.to_string()));
            return;
        }
    }
    if value.chars().count() > limit {
        errors.push((name, t.too_long(limit, value.chars().count())));
    }
}

/// Upper bound on a form body: every text field at its limit, each character as a
/// percent-encoded 4-byte sequence, plus room for the choices.
pub fn body_limit(field_chars: usize, text_fields: usize) -> usize {
    field_chars * 12 * text_fields + 16 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_crlf() {
        let f = Form::parse(b"a=een+twee%21&b=x%0D%0Ay&c");
        assert_eq!(f.get("a"), Some("een twee!"));
        assert_eq!(f.get("b"), Some("x\ny"));
        assert_eq!(f.get("c"), Some(""));
        assert!(f.invalid.is_empty() && f.repeated.is_empty());
    }

    #[test]
    fn notices_invalid_utf8_and_keeps_the_rest() {
        let f = Form::parse(b"a=ok%FFok&b=fine");
        assert_eq!(f.invalid, vec!["a".to_string()]);
        assert_eq!(f.get("a"), Some("ok\u{FFFD}ok"));
        assert_eq!(f.get("b"), Some("fine"));
    }

    #[test]
    fn a_nul_byte_becomes_the_replacement_character() {
        let f = Form::parse(b"a=x%00y&b%00=1&c=ok");
        assert_eq!(f.get("a"), Some("x\u{FFFD}y"));
        assert_eq!(f.get("b\u{FFFD}"), Some("1"));
        assert!(f.invalid.is_empty());
        assert_eq!(f.get("c"), Some("ok"));
    }

    #[test]
    fn notices_repeated_fields_and_keeps_the_first() {
        let f = Form::parse(b"a=1&a=2");
        assert_eq!(f.repeated, vec!["a".to_string()]);
        assert_eq!(f.get("a"), Some("1"));
    }
}
