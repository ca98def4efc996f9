//! The export file of one organisation, sealed under a random export key that only the
//! operator is shown: a clear header (what the file is, the STREAM nonce prefix and a check
//! value of the key), then records (the organisation's header, settings, secret, trust pin
//! and data) sealed with the STREAM construction (BE32) over XChaCha20-Poly1305 in 64 KiB
//! chunks, the last one flagged. A changed, dropped, reordered or cut-off chunk fails to
//! open, and so does a file whose end was cut at a chunk boundary. The installation's pepper
//! plays no part: the export key alone opens the file.

use std::io::{BufRead, BufReader, Read, Write};

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::crypto::envelope::{self, Context, Purpose, ALG_XCHACHA20POLY1305, FORMAT_V1, TAG_LEN};
use crate::crypto::recovery::{self, PaperError, EXPORT_KEY_VERSION};
use crate::crypto::Key32;

/// The first bytes of every export file.
pub const MAGIC: &[u8; 8] = b"MPORGEXP";
/// Plaintext bytes per STREAM chunk.
const CHUNK: usize = 64 * 1024;
const SEALED_CHUNK: usize = CHUNK + TAG_LEN;
/// XChaCha20's 24-byte nonce less STREAM-BE32's 4-byte counter and 1-byte last flag.
const PREFIX_LEN: usize = 19;
const CHECK_LEN: usize = 32;
/// Magic, format, algorithm, nonce prefix, key check.
pub const HEADER_LEN: usize = MAGIC.len() + 2 + PREFIX_LEN + CHECK_LEN;
/// The largest record read into memory (a header, settings, a pin, a batch of rows).
pub const MAX_SMALL_RECORD: u64 = 64 * 1024 * 1024;

/// The random key an export is sealed under, shown once to the operator on paper.
pub struct ExportKey(Key32);

impl std::fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportKey(***)")
    }
}

impl ExportKey {
    pub fn random() -> ExportKey {
        ExportKey(Key32::random())
    }

    /// The key as the operator writes it down: four lines like the recovery key's, a check
    /// symbol on each.
    pub fn paper(&self) -> Zeroizing<Vec<String>> {
        recovery::encode_key(EXPORT_KEY_VERSION, self.0.as_bytes())
    }

    /// A key typed or pasted from its paper form.
    pub fn from_paper(typed: &str) -> Result<ExportKey, PaperError> {
        recovery::decode_key(typed, EXPORT_KEY_VERSION).map(|k| ExportKey(Key32::from_bytes(*k)))
    }

    /// The same key again (for work handed to another thread).
    pub fn duplicate(&self) -> ExportKey {
        ExportKey(Key32::from_bytes(*self.0.as_bytes()))
    }

    /// The STREAM key and the check value: HKDF subkeys of the export key, one per use.
    fn subkey(&self, field: u16) -> Key32 {
        envelope::derive(
            self.0.as_bytes(),
            None,
            &Context::new(Purpose::OrganisationExport).field(field),
        )
    }

    fn stream(&self, prefix: &[u8; PREFIX_LEN]) -> StreamBE32<XChaCha20Poly1305> {
        let cipher = XChaCha20Poly1305::new(self.subkey(1).as_bytes().into());
        StreamBE32::from_aead(cipher, GenericArray::from_slice(prefix))
    }

    /// Stored in the clear header so a wrong key is told apart from a damaged file. A
    /// keyed digest: it says nothing about the key.
    fn check(&self) -> [u8; CHECK_LEN] {
        *self.subkey(2).as_bytes()
    }
}

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Where the organisation comes from (fields, see [`fields`]).
    Header = 1,
    /// Its own settings (TOML).
    Settings = 2,
    /// Its own secret: 32 bytes.
    Secret = 3,
    /// Its trust pin file's bytes.
    Pin = 4,
    /// SQLite: its database as one file, evidence inside.
    SqliteDatabase = 5,
    /// PostgreSQL: one table's name, a zero byte, and a JSON array of its rows.
    Rows = 6,
    /// Nothing follows.
    End = 255,
}

impl Kind {
    fn of(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Header,
            2 => Kind::Settings,
            3 => Kind::Secret,
            4 => Kind::Pin,
            5 => Kind::SqliteDatabase,
            6 => Kind::Rows,
            255 => Kind::End,
            _ => return None,
        })
    }
}

/// Writes an export: records in, sealed chunks out. Holds one chunk of plaintext.
pub struct ExportWriter<W: Write> {
    out: W,
    stream: StreamBE32<XChaCha20Poly1305>,
    ad: Vec<u8>,
    pending: Zeroizing<Vec<u8>>,
    position: u32,
    /// Bytes the record being written still owes.
    owed: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the clear header to `out`.
    pub fn new(mut out: W, key: &ExportKey) -> std::io::Result<ExportWriter<W>> {
        let mut prefix = [0u8; PREFIX_LEN];
        OsRng.fill_bytes(&mut prefix);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&[FORMAT_V1, ALG_XCHACHA20POLY1305]);
        header.extend_from_slice(&prefix);
        header.extend_from_slice(&key.check());
        out.write_all(&header)?;
        Ok(ExportWriter {
            out,
            stream: key.stream(&prefix),
            ad: associated_data(&header),
            pending: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK)),
            position: 0,
            owed: 0,
        })
    }

    /// A whole record.
    pub fn record(&mut self, kind: Kind, bytes: &[u8]) -> std::io::Result<()> {
        self.begin(kind, bytes.len() as u64)?;
        self.body(bytes)
    }

    /// The start of a record of `len` bytes, given next with [`ExportWriter::body`].
    pub fn begin(&mut self, kind: Kind, len: u64) -> std::io::Result<()> {
        if self.owed != 0 {
            return Err(invalid("a record began before the one before it ended"));
        }
        let mut head = [0u8; 9];
        head[0] = kind as u8;
        head[1..].copy_from_slice(&len.to_be_bytes());
        self.push(&head)?;
        self.owed = len;
        Ok(())
    }

    /// More of the record begun.
    pub fn body(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let len = bytes.len() as u64;
        if len > self.owed {
            return Err(invalid("a record is longer than it said"));
        }
        self.owed -= len;
        self.push(bytes)
    }

    fn push(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            // A full chunk is sealed only once more follows: the last one is sealed
            // differently, and which one is last is known only at the end.
            if self.pending.len() == CHUNK {
                self.seal(false)?;
            }
            let take = (CHUNK - self.pending.len()).min(bytes.len());
            let (now, rest) = bytes.split_at(take);
            self.pending.extend_from_slice(now);
            bytes = rest;
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> std::io::Result<()> {
        self.stream
            .encrypt_in_place(self.position, last, &self.ad, &mut *self.pending)
            .map_err(|_| invalid("sealing a chunk failed"))?;
        self.out.write_all(&self.pending)?;
        self.pending.clear();
        self.position = self
            .position
            .checked_add(1)
            .ok_or_else(|| invalid("the export is too large for its format"))?;
        Ok(())
    }

    /// The end record and the last chunk; hands back the output (to sync it).
    pub fn finish(mut self) -> std::io::Result<W> {
        if self.owed != 0 {
            return Err(invalid("the export ended inside a record"));
        }
        self.begin(Kind::End, 0)?;
        self.seal(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::other(what.to_string())
}

fn associated_data(header: &[u8]) -> Vec<u8> {
    let mut ad = header.to_vec();
    ad.extend_from_slice(&Context::new(Purpose::OrganisationExport).encode());
    ad
}

/// Why an export does not open. Nothing is said about its content.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("it is not a Meldpunt organisation export")]
    NotExport,
    #[error(
        "it was written in a format this version of Meldpunt does not know (version {0}); import it with a newer one"
    )]
    Version(u8),
    #[error("the export key does not open it: check that it is the key `meldpunt organisation export` printed for this very file (every export has its own)")]
    WrongKey,
    #[error("it was changed or damaged after it was written (its integrity check fails at byte {0})")]
    Damaged(u64),
    #[error("it is cut off: its end is missing (copy it again, whole)")]
    CutOff,
    #[error("it is cut off or damaged at its end (its integrity check fails at byte {0})")]
    DamagedEnd(u64),
    #[error("its content is not laid out as an export is ({0})")]
    Malformed(&'static str),
    #[error("it cannot be read: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads an export back, every chunk checked before a byte of it is handed out.
pub struct ExportReader<R: Read> {
    input: BufReader<R>,
    stream: StreamBE32<XChaCha20Poly1305>,
    ad: Vec<u8>,
    chunk: Zeroizing<Vec<u8>>,
    at: usize,
    position: u32,
    /// The last chunk was opened.
    ended: bool,
    /// Bytes of the file read so far (for messages).
    offset: u64,
}

impl<R: Read> ExportReader<R> {
    /// Reads the clear header and checks the key against it.
    pub fn open(input: R, key: &ExportKey) -> Result<ExportReader<R>, OpenError> {
        use subtle::ConstantTimeEq;
        let mut input = BufReader::with_capacity(SEALED_CHUNK + 1, input);
        let mut header = [0u8; HEADER_LEN];
        let got = read_full(&mut input, &mut header)?;
        if got < MAGIC.len() + 2 || &header[..MAGIC.len()] != MAGIC {
            return Err(OpenError::NotExport);
        }
        let (format, alg) = (header[MAGIC.len()], header[MAGIC.len() + 1]);
        if format != FORMAT_V1 || alg != ALG_XCHACHA20POLY1305 {
            return Err(OpenError::Version(format));
        }
        if got < HEADER_LEN {
            return Err(OpenError::CutOff);
        }
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&header[MAGIC.len() + 2..MAGIC.len() + 2 + PREFIX_LEN]);
        let check = &header[HEADER_LEN - CHECK_LEN..];
        if !bool::from(check.ct_eq(&key.check())) {
            return Err(OpenError::WrongKey);
        }
        Ok(ExportReader {
            input,
            stream: key.stream(&prefix),
            ad: associated_data(&header),
            chunk: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK)),
            at: 0,
            position: 0,
            ended: false,
            offset: HEADER_LEN as u64,
        })
    }

    /// Opens the next chunk; false once the last one was read.
    fn next_chunk(&mut self) -> Result<bool, OpenError> {
        if self.ended {
            return Ok(false);
        }
        self.chunk.clear();
        self.chunk.resize(SEALED_CHUNK, 0);
        let got = read_full(&mut self.input, &mut self.chunk)?;
        self.chunk.truncate(got);
        let start = self.offset;
        self.offset += got as u64;
        let last = got < SEALED_CHUNK || self.input.fill_buf()?.is_empty();
        if last {
            let sealed = Zeroizing::new(self.chunk.to_vec());
            if self
                .stream
                .decrypt_in_place(self.position, true, &self.ad, &mut *self.chunk)
                .is_err()
            {
                // A whole chunk that opens as one in the middle: the file was cut right
                // after it.
                let mut probe = sealed;
                let cut_at_boundary = got == SEALED_CHUNK
                    && self
                        .stream
                        .decrypt_in_place(self.position, false, &self.ad, &mut *probe)
                        .is_ok();
                return Err(if cut_at_boundary || got == 0 {
                    OpenError::CutOff
                } else {
                    OpenError::DamagedEnd(start)
                });
            }
            self.ended = true;
        } else if self
            .stream
            .decrypt_in_place(self.position, false, &self.ad, &mut *self.chunk)
            .is_err()
        {
            return Err(OpenError::Damaged(start));
        }
        self.position = self.position.checked_add(1).ok_or(OpenError::Malformed("too long"))?;
        self.at = 0;
        Ok(true)
    }

    /// Exactly `out.len()` bytes of plaintext.
    pub fn read_exact(&mut self, mut out: &mut [u8]) -> Result<(), OpenError> {
        while !out.is_empty() {
            if self.at == self.chunk.len() && !self.next_chunk()? {
                return Err(OpenError::Malformed("it ends inside a record"));
            }
            let take = (self.chunk.len() - self.at).min(out.len());
            let (now, rest) = out.split_at_mut(take);
            now.copy_from_slice(&self.chunk[self.at..self.at + take]);
            self.at += take;
            out = rest;
        }
        Ok(())
    }

    /// The next record's kind and length.
    pub fn next_record(&mut self) -> Result<(Kind, u64), OpenError> {
        let mut head = [0u8; 9];
        self.read_exact(&mut head)?;
        let kind = Kind::of(head[0]).ok_or(OpenError::Malformed(
            "a record of a kind this version does not know; import it with a newer Meldpunt",
        ))?;
        let mut len = [0u8; 8];
        len.copy_from_slice(&head[1..]);
        Ok((kind, u64::from_be_bytes(len)))
    }

    /// A record's bytes, read into memory (at most [`MAX_SMALL_RECORD`]).
    pub fn small(&mut self, len: u64) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if len > MAX_SMALL_RECORD {
            return Err(OpenError::Malformed("a record too large to be what it says"));
        }
        let n = usize::try_from(len).map_err(|_| OpenError::Malformed("a record too large"))?;
        let mut out = Zeroizing::new(vec![0u8; n]);
        self.read_exact(&mut out)?;
        Ok(out)
    }

    /// A record's `len` bytes written to `sink`, a chunk at a time.
    pub fn copy_to(&mut self, mut len: u64, sink: &mut dyn Write) -> Result<(), OpenError> {
        while len > 0 {
            if self.at == self.chunk.len() && !self.next_chunk()? {
                return Err(OpenError::Malformed("it ends inside a record"));
            }
            let have = (self.chunk.len() - self.at) as u64;
            let take = have.min(len) as usize;
            sink.write_all(&self.chunk[self.at..self.at + take])?;
            self.at += take;
            len -= take as u64;
        }
        Ok(())
    }

    /// After the end record: nothing may follow it.
    pub fn finish(&mut self) -> Result<(), OpenError> {
        if !self.ended || self.at != self.chunk.len() {
            return Err(OpenError::Malformed("something follows its end"));
        }
        Ok(())
    }
}

/// Reads until `buf` is full or the input ends; how many bytes came.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Named text fields as one record's bytes: each name and value preceded by its length.
pub fn fields(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in pairs {
        for part in [name, value] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

/// The fields [`fields`] wrote.
pub fn parse_fields(mut bytes: &[u8]) -> Result<Vec<(String, String)>, OpenError> {
    let take = |bytes: &mut &[u8]| -> Result<String, OpenError> {
        let bad = OpenError::Malformed("a header field is cut off");
        if bytes.len() < 4 {
            return Err(bad);
        }
        let (len, rest) = bytes.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(bad);
        }
        let (text, rest) = rest.split_at(len);
        *bytes = rest;
        String::from_utf8(text.to_vec()).map_err(|_| OpenError::Malformed("a header field is not text"))
    };
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let name = take(&mut bytes)?;
        let value = take(&mut bytes)?;
        out.push((name, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(key: &ExportKey, body: &[u8]) -> Vec<u8> {
        let mut w = ExportWriter::new(Vec::new(), key).unwrap();
        w.record(Kind::Header, &fields(&[("name", "Gemeente Aldam")])).unwrap();
        w.begin(Kind::SqliteDatabase, body.len() as u64).unwrap();
        for part in body.chunks(10_000) {
            w.body(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_back(key: &ExportKey, file: &[u8]) -> Result<Vec<u8>, OpenError> {
        let mut r = ExportReader::open(file, key)?;
        let (kind, len) = r.next_record()?;
        assert_eq!(kind, Kind::Header);
        let header = parse_fields(&r.small(len)?)?;
        assert_eq!(header, vec![("name".to_string(), "Gemeente Aldam".to_string())]);
        let (kind, len) = r.next_record()?;
        assert_eq!(kind, Kind::SqliteDatabase);
        let mut body = Vec::new();
        r.copy_to(len, &mut body)?;
        assert_eq!(r.next_record()?.0, Kind::End);
        r.finish()?;
        Ok(body)
    }

    #[test]
    fn an_export_round_trips_and_every_change_is_refused() {
        let key = ExportKey::random();
        let body: Vec<u8> = (0..3 * CHUNK + 123).map(|i| (i % 251) as u8).collect();
        let file = written(&key, &body);
        assert_eq!(read_back(&key, &file).unwrap(), body);
        assert!(!file.windows(64).any(|w| body.windows(64).next() == Some(w)));

        assert!(matches!(
            read_back(&ExportKey::random(), &file),
            Err(OpenError::WrongKey)
        ));
        let mut flipped = file.clone();
        flipped[HEADER_LEN + SEALED_CHUNK + 5] ^= 1;
        assert!(matches!(read_back(&key, &flipped), Err(OpenError::Damaged(_))));
        let mut prefix = file.clone();
        prefix[MAGIC.len() + 3] ^= 1;
        assert!(matches!(read_back(&key, &prefix), Err(OpenError::Damaged(_))));
        // Cut at a chunk boundary, inside a chunk, and right after the header.
        let boundary = &file[..HEADER_LEN + 2 * SEALED_CHUNK];
        assert!(matches!(read_back(&key, boundary), Err(OpenError::CutOff)));
        let inside = &file[..file.len() - 7];
        assert!(matches!(read_back(&key, inside), Err(OpenError::DamagedEnd(_))));
        assert!(matches!(read_back(&key, &file[..HEADER_LEN]), Err(OpenError::CutOff)));
        // Two chunks swapped.
        let mut swapped = file.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + SEALED_CHUNK);
        let first = file[a..b].to_vec();
        swapped[a..b].copy_from_slice(&file[b..b + SEALED_CHUNK]);
        swapped[b..b + SEALED_CHUNK].copy_from_slice(&first);
        assert!(matches!(read_back(&key, &swapped), Err(OpenError::Damaged(_))));
        assert!(matches!(
            read_back(&key, b"not an export at all"),
            Err(OpenError::NotExport)
        ));
    }

    #[test]
    fn the_export_key_round_trips_on_paper() {
        let key = ExportKey::random();
        let typed = key.paper().join("\n").to_lowercase();
        let back = ExportKey::from_paper(&typed).unwrap();
        assert_eq!(back.check(), key.check());
    }
}
