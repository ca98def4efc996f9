//! Sealing evidence bytes: a per-file key derived from the report key, the STREAM
//! construction (BE32) over XChaCha20-Poly1305 in 64 KiB chunks with a distinct last chunk,
//! grouped into segments (one database row each); and the sealed description of a file.

use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{generic_array::GenericArray, KeyInit};
use chacha20poly1305::XChaCha20Poly1305;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::crypto::envelope::{self, Context, KeySource, Purpose, Role, ALG_XCHACHA20POLY1305, FORMAT_V1, TAG_LEN};
use crate::crypto::{CryptoError, ReportKey};
use crate::features::evidence::clean::{Kind, Removed};

/// Plaintext bytes per STREAM chunk.
pub const CHUNK: usize = 64 * 1024;
/// Ciphertext bytes per STREAM chunk.
pub const SEALED_CHUNK: usize = CHUNK + TAG_LEN;
/// STREAM chunks per stored segment (about 1 MiB a row: few rows, bounded memory).
pub const SEGMENT_CHUNKS: usize = 16;
/// Stored segments a sealer keeps to reuse (as many as can be on their way to the database).
pub const SPARE_SEGMENTS: usize = 8;
/// XChaCha20's 24-byte nonce less STREAM-BE32's 4-byte counter and 1-byte last flag.
const PREFIX_LEN: usize = 19;
const HEADER_LEN: usize = 3 + PREFIX_LEN;

/// Where a file belongs: report, file id and who uploaded it. Bound into the key and every
/// chunk, so a segment moved to another file or report fails to open.
pub fn body_context(rid: [u8; 16], fid: [u8; 16], role: Role) -> Context {
    Context::new(Purpose::FileBody).report(rid).record(fid).role(role)
}

fn meta_context(rid: [u8; 16], fid: [u8; 16], role: Role) -> Context {
    Context::new(Purpose::FileMeta).report(rid).record(fid).role(role)
}

fn cipher(key: &ReportKey, ctx: &Context) -> XChaCha20Poly1305 {
    let subkey = envelope::derive(key.key().as_bytes(), None, ctx);
    XChaCha20Poly1305::new(subkey.as_bytes().into())
}

fn aad(header: &[u8], ctx: &Context) -> Vec<u8> {
    let mut ad = header.to_vec();
    ad.extend_from_slice(&ctx.encode());
    ad
}

/// Encrypts a file as it arrives. Holds at most one plaintext chunk and one segment.
pub struct FileSealer {
    enc: Option<EncryptorBE32<XChaCha20Poly1305>>,
    ad: Vec<u8>,
    pending: Zeroizing<Vec<u8>>,
    segment: Vec<u8>,
    /// Segment buffers given back after they were stored (ciphertext only), reused so a
    /// large file does not fault in and zero a fresh megabyte for every segment.
    spare: Vec<Vec<u8>>,
    chunks: u64,
    size: u64,
}

impl std::fmt::Debug for FileSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileSealer(***)")
    }
}

impl FileSealer {
    /// A sealer and the stream header to store with the file (version, algorithm, nonce prefix).
    pub fn new(key: &ReportKey, ctx: &Context) -> (FileSealer, Vec<u8>) {
        let mut header = vec![FORMAT_V1, ALG_XCHACHA20POLY1305, KeySource::Subkey as u8];
        let mut prefix = [0u8; PREFIX_LEN];
        OsRng.fill_bytes(&mut prefix);
        header.extend_from_slice(&prefix);
        let enc = EncryptorBE32::from_aead(cipher(key, ctx), GenericArray::from_slice(&prefix));
        let sealer = FileSealer {
            enc: Some(enc),
            ad: aad(&header, ctx),
            pending: Zeroizing::new(Vec::with_capacity(CHUNK)),
            segment: Vec::with_capacity(SEALED_CHUNK * SEGMENT_CHUNKS),
            spare: Vec::new(),
            chunks: 0,
            size: 0,
        };
        (sealer, header)
    }

    /// Plaintext bytes taken so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes more plaintext; returns the segments that filled up, ready to store in order.
    /// A full chunk is sealed only once more data follows: the last chunk is sealed
    /// differently, and which one is last is known only when the input ends.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
        let mut out = Vec::new();
        self.size += data.len() as u64;
        while !data.is_empty() {
            if self.pending.len() == CHUNK {
                let enc = self.enc.as_mut().ok_or(CryptoError::Format)?;
                seal_into(enc, &self.ad, &mut self.segment, &self.pending)?;
                self.pending.clear();
                self.sealed_one(&mut out);
            } else if self.pending.is_empty() && data.len() > CHUNK {
                // Straight from the input into the segment: one copy, sealed in place.
                let (chunk, rest) = data.split_at(CHUNK);
                let enc = self.enc.as_mut().ok_or(CryptoError::Format)?;
                seal_into(enc, &self.ad, &mut self.segment, chunk)?;
                data = rest;
                self.sealed_one(&mut out);
            } else {
                let take = (CHUNK - self.pending.len()).min(data.len());
                let (now, rest) = data.split_at(take);
                self.pending.extend_from_slice(now);
                data = rest;
            }
        }
        Ok(out)
    }

    fn sealed_one(&mut self, out: &mut Vec<Vec<u8>>) {
        self.chunks += 1;
        if self.segment.len() == SEALED_CHUNK * SEGMENT_CHUNKS {
            let next = self
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(SEALED_CHUNK * SEGMENT_CHUNKS));
            out.push(std::mem::replace(&mut self.segment, next));
        }
    }

    /// Takes back a segment returned by [`FileSealer::push`] once it is stored, to fill
    /// again. At most [`SPARE_SEGMENTS`] are kept; others (and buffers of another size) are
    /// dropped.
    pub fn recycle(&mut self, mut segment: Vec<u8>) {
        if self.spare.len() < SPARE_SEGMENTS && segment.capacity() >= SEALED_CHUNK * SEGMENT_CHUNKS {
            segment.clear();
            self.spare.push(segment);
        }
    }

    /// Seals the last chunk, padded so the stored length does not tell the size exactly: the
    /// only chunk of a small file to its Padmé size (as other sealed content; a file of a few
    /// hundred bytes then takes about that on disk, not 64 KiB), the last chunk of a longer
    /// file to the full 64 KiB, so its length is known only to 64 KiB. The opener takes a
    /// last chunk of any length, so files sealed either way open. Returns the final segment
    /// and the number of chunks.
    pub fn finish(mut self) -> Result<(Vec<u8>, u64), CryptoError> {
        let enc = self.enc.take().ok_or(CryptoError::Format)?;
        if self.size == 0 {
            return Err(CryptoError::Format);
        }
        let padded = if self.chunks == 0 {
            envelope::padme_len(self.pending.len()).min(CHUNK)
        } else {
            CHUNK
        };
        self.pending.resize(padded, 0);
        let start = self.segment.len();
        self.segment.extend_from_slice(&self.pending);
        enc.encrypt_last_in_place(&self.ad, &mut Tail::new(&mut self.segment, start))
            .map_err(|_| CryptoError::Format)?;
        Ok((std::mem::take(&mut self.segment), self.chunks + 1))
    }
}

/// Appends `plain` to `segment` and seals it there, in place.
fn seal_into(
    enc: &mut EncryptorBE32<XChaCha20Poly1305>,
    ad: &[u8],
    segment: &mut Vec<u8>,
    plain: &[u8],
) -> Result<(), CryptoError> {
    let start = segment.len();
    segment.extend_from_slice(plain);
    enc.encrypt_next_in_place(ad, &mut Tail::new(segment, start))
        .map_err(|_| CryptoError::Format)
}

/// The end of a segment, from `start`, as the AEAD's in-place buffer (the tag is appended).
struct Tail<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Tail<'a> {
    fn new(vec: &'a mut Vec<u8>, start: usize) -> Self {
        Tail { vec, start }
    }
}

impl AsRef<[u8]> for Tail<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.start..]
    }
}

impl AsMut<[u8]> for Tail<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..]
    }
}

impl chacha20poly1305::aead::Buffer for Tail<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> chacha20poly1305::aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }
    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start + len);
    }
}

/// One sealed chunk inside a segment as the AEAD's in-place buffer: decryption only
/// shortens it (the tag goes), so it never needs to grow.
struct Window<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Window<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        let len = buf.len();
        Window { buf, len }
    }
}

impl AsRef<[u8]> for Window<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl AsMut<[u8]> for Window<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl chacha20poly1305::aead::Buffer for Window<'_> {
    fn extend_from_slice(&mut self, _other: &[u8]) -> chacha20poly1305::aead::Result<()> {
        Err(chacha20poly1305::aead::Error)
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// Decrypts a file's segments in order; refuses a missing, extra, moved or reordered chunk.
pub struct FileOpener {
    dec: Option<DecryptorBE32<XChaCha20Poly1305>>,
    ad: Vec<u8>,
    chunks_left: u64,
    bytes_left: u64,
}

impl std::fmt::Debug for FileOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileOpener(***)")
    }
}

impl FileOpener {
    pub fn new(key: &ReportKey, ctx: &Context, header: &[u8], chunks: u64, size: u64) -> Result<Self, CryptoError> {
        envelope::check_header(header, KeySource::Subkey)?;
        let prefix = header.get(3..HEADER_LEN).ok_or(CryptoError::Format)?;
        let room = chunks.checked_mul(CHUNK as u64).ok_or(CryptoError::Format)?;
        // The size must end inside the last chunk: a tampered count or size is refused.
        if header.len() != HEADER_LEN || chunks == 0 || size > room || size <= room - CHUNK as u64 {
            return Err(CryptoError::Format);
        }
        let dec = DecryptorBE32::from_aead(cipher(key, ctx), GenericArray::from_slice(prefix));
        Ok(FileOpener {
            dec: Some(dec),
            ad: aad(header, ctx),
            chunks_left: chunks,
            bytes_left: size,
        })
    }

    /// Plaintext of the next segment, without the last chunk's padding.
    pub fn open_segment(&mut self, segment: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.open_segment_in_place(segment.to_vec())
    }

    /// The same, decrypted in the segment's own buffer (each chunk in place, then moved up
    /// over the tags before it), so a download copies no megabyte twice. On an error the
    /// buffer, which may hold some plaintext, is zeroed before it is dropped.
    pub fn open_segment_in_place(&mut self, segment: Vec<u8>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut segment = Zeroizing::new(segment);
        if segment.is_empty() {
            return Err(CryptoError::Format);
        }
        let (mut read, mut write) = (0, 0);
        while read < segment.len() {
            if self.chunks_left == 0 {
                return Err(CryptoError::Format);
            }
            self.chunks_left -= 1;
            let end = (read + SEALED_CHUNK).min(segment.len());
            let mut chunk = Window::new(&mut segment[read..end]);
            if self.chunks_left == 0 {
                let dec = self.dec.take().ok_or(CryptoError::Format)?;
                dec.decrypt_last_in_place(&self.ad, &mut chunk)
            } else {
                self.dec
                    .as_mut()
                    .ok_or(CryptoError::Format)?
                    .decrypt_next_in_place(&self.ad, &mut chunk)
            }
            .map_err(|_| CryptoError::Open)?;
            let take = (chunk.len as u64).min(self.bytes_left) as usize;
            segment.copy_within(read..read + take, write);
            self.bytes_left -= take as u64;
            write += take;
            read = end;
        }
        // The tags and padding past the plaintext are zeroed too: the buffer is handed on
        // whole, and what lies beyond its length is freed with it.
        segment[write..].fill(0);
        segment.truncate(write);
        Ok(segment)
    }

    /// True once the last chunk has been opened.
    pub fn done(&self) -> bool {
        self.chunks_left == 0
    }
}

/// Why a file was stored as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    None = 0,
    /// A format we cannot clean (video, HEIC, old Office files, e-mail, archives...).
    CannotClean = 1,
    /// It claimed a cleanable format but did not parse as one.
    Unreadable = 2,
    /// Larger than what we clean in memory.
    TooLargeToClean = 3,
    /// The reporter asked to keep it untouched.
    KeptOriginal = 4,
    /// This meldpunt is configured not to clean files (`limits.clean_metadata = false`).
    CleaningOff = 5,
}

impl Warning {
    fn from_code(c: u8) -> Warning {
        match c {
            1 => Warning::CannotClean,
            2 => Warning::Unreadable,
            3 => Warning::TooLargeToClean,
            4 => Warning::KeptOriginal,
            5 => Warning::CleaningOff,
            0 => Warning::None,
            // A code from a newer version: never read it as "nothing to warn about".
            _ => Warning::CannotClean,
        }
    }
}

const REMOVED_ALL: [Removed; 7] = [
    Removed::Location,
    Removed::CameraData,
    Removed::Xmp,
    Removed::Iptc,
    Removed::Comments,
    Removed::DocumentInfo,
    Removed::DocumentProperties,
];

const KINDS: [Kind; 8] = [
    Kind::Jpeg,
    Kind::Png,
    Kind::Webp,
    Kind::Heic,
    Kind::Pdf,
    Kind::Zip,
    Kind::Text,
    Kind::Other,
];

/// What is known about a stored file; sealed, never in the clear.
#[derive(Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub name: String,
    pub kind: Kind,
    pub size: u64,
    pub removed: Vec<Removed>,
    pub warning: Warning,
}

impl std::fmt::Debug for FileMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileMeta(***)")
    }
}

impl FileMeta {
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![1u8];
        out.extend_from_slice(&self.size.to_be_bytes());
        out.push(KINDS.iter().position(|k| *k == self.kind).unwrap_or(7) as u8);
        out.push(self.warning as u8);
        let removed: Vec<u8> = self
            .removed
            .iter()
            .filter_map(|r| REMOVED_ALL.iter().position(|x| x == r))
            .map(|i| i as u8)
            .collect();
        out.push(removed.len() as u8);
        out.extend_from_slice(&removed);
        out.extend_from_slice(self.name.as_bytes());
        out
    }

    fn decode(b: &[u8]) -> Result<FileMeta, CryptoError> {
        let [1, rest @ ..] = b else {
            return Err(CryptoError::Format);
        };
        let (size, rest) = rest.split_at_checked(8).ok_or(CryptoError::Format)?;
        let size = u64::from_be_bytes(size.try_into().map_err(|_| CryptoError::Format)?);
        let [kind, warning, n, rest @ ..] = rest else {
            return Err(CryptoError::Format);
        };
        let (removed, name) = rest.split_at_checked(*n as usize).ok_or(CryptoError::Format)?;
        Ok(FileMeta {
            name: String::from_utf8_lossy(name).into_owned(),
            kind: KINDS.get(*kind as usize).copied().unwrap_or(Kind::Other),
            size,
            removed: removed
                .iter()
                .filter_map(|i| REMOVED_ALL.get(*i as usize).copied())
                .collect(),
            warning: Warning::from_code(*warning),
        })
    }

    pub fn seal(&self, key: &ReportKey, rid: [u8; 16], fid: [u8; 16], role: Role) -> Vec<u8> {
        key.seal(&meta_context(rid, fid, role), &self.encode())
    }

    pub fn open(
        key: &ReportKey,
        rid: [u8; 16],
        fid: [u8; 16],
        role: Role,
        sealed: &[u8],
    ) -> Result<FileMeta, CryptoError> {
        FileMeta::decode(&key.open(&meta_context(rid, fid, role), sealed)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_all(key: &ReportKey, ctx: &Context, data: &[u8], step: usize) -> (Vec<u8>, Vec<Vec<u8>>, u64) {
        let (mut s, header) = FileSealer::new(key, ctx);
        let mut segs = Vec::new();
        for piece in data.chunks(step) {
            segs.extend(s.push(piece).unwrap());
        }
        let (last, chunks) = s.finish().unwrap();
        segs.push(last);
        (header, segs, chunks)
    }

    fn open_all(
        key: &ReportKey,
        ctx: &Context,
        header: &[u8],
        segs: &[Vec<u8>],
        chunks: u64,
        size: u64,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut o = FileOpener::new(key, ctx, header, chunks, size)?;
        let mut out = Vec::new();
        for s in segs {
            out.extend_from_slice(&o.open_segment(s)?);
        }
        if !o.done() {
            return Err(CryptoError::Format);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_boundary() {
        let key = ReportKey::generate();
        let ctx = body_context([1; 16], [2; 16], Role::Reporter);
        for len in [
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            CHUNK * SEGMENT_CHUNKS,
            CHUNK * SEGMENT_CHUNKS + 7,
            3 * CHUNK * SEGMENT_CHUNKS,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for step in [1000, CHUNK, 5 * CHUNK + 3] {
                let (h, segs, chunks) = seal_all(&key, &ctx, &data, step);
                assert_eq!(chunks, len.div_ceil(CHUNK) as u64);
                assert!(segs.iter().all(|s| s.len() <= SEALED_CHUNK * SEGMENT_CHUNKS));
                let back = open_all(&key, &ctx, &h, &segs, chunks, len as u64).unwrap();
                assert_eq!(back, data, "len {len} step {step}");
            }
        }
    }

    #[test]
    fn refuses_truncation_reordering_and_moves() {
        let key = ReportKey::generate();
        let ctx = body_context([1; 16], [2; 16], Role::Reporter);
        let len = 2 * CHUNK * SEGMENT_CHUNKS + 10;
        let data = vec![7u8; len];
        let (h, segs, chunks) = seal_all(&key, &ctx, &data, CHUNK);
        // Dropping the last segment: the new last chunk was not sealed as last.
        assert!(open_all(
            &key,
            &ctx,
            &h,
            &segs[..2],
            chunks - 1,
            (2 * CHUNK * SEGMENT_CHUNKS) as u64
        )
        .is_err());
        let swapped = vec![segs[1].clone(), segs[0].clone(), segs[2].clone()];
        assert!(open_all(&key, &ctx, &h, &swapped, chunks, len as u64).is_err());
        let other_file = body_context([1; 16], [3; 16], Role::Reporter);
        assert!(open_all(&key, &other_file, &h, &segs, chunks, len as u64).is_err());
        let other_report = body_context([9; 16], [2; 16], Role::Reporter);
        assert!(open_all(&key, &other_report, &h, &segs, chunks, len as u64).is_err());
        let other_role = body_context([1; 16], [2; 16], Role::Coordinator);
        assert!(open_all(&key, &other_role, &h, &segs, chunks, len as u64).is_err());
        // Damaged segments fail to open, never panic: a flipped byte, a few stray bytes
        // after the last chunk (shorter than a tag), a whole extra chunk, a cut-off tag.
        assert!(open_all(&key, &ctx, &h, &segs, chunks, len as u64).unwrap() == data);
        let mut flipped = segs.clone();
        flipped[1][SEALED_CHUNK + 5] ^= 1;
        assert!(open_all(&key, &ctx, &h, &flipped, chunks, len as u64).is_err());
        for extra in [1, 15, 16, SEALED_CHUNK] {
            let mut longer = segs.clone();
            longer[2].extend(std::iter::repeat_n(0u8, extra));
            assert!(
                open_all(&key, &ctx, &h, &longer, chunks, len as u64).is_err(),
                "{extra}"
            );
        }
        let mut cut = segs.clone();
        let keep = cut[2].len() - 3;
        cut[2].truncate(keep);
        assert!(open_all(&key, &ctx, &h, &cut, chunks, len as u64).is_err());
    }

    #[test]
    fn a_small_file_takes_its_padded_size_not_a_whole_chunk() {
        let key = ReportKey::generate();
        let ctx = body_context([1; 16], [2; 16], Role::Reporter);
        for (len, stored) in [
            (1, 256),
            (700, 704),
            (1000, 1024),
            (CHUNK - 1, CHUNK),
            (CHUNK + 1, 2 * CHUNK),
        ] {
            let data = vec![5u8; len];
            let (h, segs, chunks) = seal_all(&key, &ctx, &data, 1000);
            let sealed: usize = segs.iter().map(Vec::len).sum();
            assert_eq!(sealed, stored + chunks as usize * TAG_LEN, "len {len}");
            assert_eq!(open_all(&key, &ctx, &h, &segs, chunks, len as u64).unwrap(), data);
        }
    }

    #[test]
    fn empty_input_is_refused() {
        let key = ReportKey::generate();
        let (s, _) = FileSealer::new(&key, &body_context([1; 16], [2; 16], Role::Reporter));
        assert!(s.finish().is_err());
    }

    #[test]
    fn meta_round_trips_and_is_bound_to_its_file() {
        let key = ReportKey::generate();
        let m = FileMeta {
            name: "foto van de brief.jpg".into(),
            kind: Kind::Jpeg,
            size: 123_456,
            removed: vec![Removed::Location, Removed::CameraData],
            warning: Warning::None,
        };
        let sealed = m.seal(&key, [1; 16], [2; 16], Role::Reporter);
        assert!(FileMeta::open(&key, [1; 16], [2; 16], Role::Reporter, &sealed).unwrap() == m);
        assert!(FileMeta::open(&key, [1; 16], [3; 16], Role::Reporter, &sealed).is_err());
    }
}
