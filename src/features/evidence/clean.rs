//! Removes identifying metadata (EXIF/GPS, XMP, IPTC, document properties) from evidence files before they are sealed.
//!
//! A reporter who uploads a phone photo or an office document can give themselves away through
//! what the file says about itself rather than what it shows: GPS coordinates, a camera serial
//! number, the author field of a PDF, the "last modified by" of a spreadsheet. This module takes
//! those out while leaving the content that makes the file evidence untouched: image data is
//! copied byte for byte, zip entries other than the property parts are copied without
//! recompression, and a PDF is only rewritten when something was found.
//!
//! Parsing is left to maintained crates (`img-parts`, `lopdf`, `zip`). The only bytes read by
//! hand are the TIFF header of an Exif block (to tell whether it holds a GPS position) and the
//! JPEG marker stream after the first scan header, which `img-parts` keeps as one opaque tail.
//!
//! When nothing identifying is found the input comes back unchanged, so the caller can rely on
//! "empty `removed`" meaning "these are the bytes the reporter sent".

use std::collections::{BTreeSet, HashSet};
use std::io::{Cursor, Read, Write};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};

use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::png::Png;
use img_parts::riff::RiffContent;
use img_parts::webp::WebP;
use img_parts::Bytes;
use lopdf::{Document, Object, ObjectId};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// What kind of file this is, judged from its first bytes (magic numbers) and, only as a fallback, its file-name extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Webp,
    /// HEIF containers (HEIC, and AVIF, which shares the container and its metadata boxes).
    Heic,
    Pdf,
    /// OOXML, ODF or other zip; decided in [`clean`].
    Zip,
    /// `.txt`, `.csv`, `.md` and the like, with no magic number.
    Text,
    Other,
}

/// How many leading bytes [`sniff`] looks at.
const SNIFF_LEN: usize = 64;

/// Needs at most the first 64 bytes.
pub fn sniff(head: &[u8], file_name: &str) -> Kind {
    let head = &head[..head.len().min(SNIFF_LEN)];
    // The content decides wherever it can: a reporter's file name may be wrong or chosen to
    // mislead, and cleaning a file as the wrong format would either fail or damage it.
    sniff_magic(head).unwrap_or_else(|| kind_from_extension(file_name))
}

fn sniff_magic(head: &[u8]) -> Option<Kind> {
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    // HEIF brands, including the AVIF ones: the same container, with Exif and XMP as items.
    const HEIF_BRANDS: [&[u8; 4]; 12] = [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"avif", b"avis",
    ];

    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Kind::Jpeg);
    }
    if head.starts_with(PNG_SIGNATURE) {
        return Some(Kind::Png);
    }
    if head.get(0..4) == Some(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        return Some(Kind::Webp);
    }
    if head.get(4..8) == Some(b"ftyp") {
        // The major brand, then the compatible brands up to the end of the `ftyp` box (or of
        // what we were given): phones write e.g. major brand `mif1` with `heic` compatible.
        let box_end = head
            .get(0..4)
            .and_then(|size| <[u8; 4]>::try_from(size).ok())
            .map_or(0, |size| u32::from_be_bytes(size) as usize)
            .min(head.len());
        let major = head.get(8..12);
        let compatible = head.get(16..box_end.max(16)).unwrap_or_default().chunks_exact(4);
        if major
            .into_iter()
            .chain(compatible)
            .any(|brand| HEIF_BRANDS.iter().any(|b| &b[..] == brand))
        {
            return Some(Kind::Heic);
        }
        // Other ISO media (MP4, QuickTime) is left to the extension, which will say `Other`.
        return None;
    }
    // The PDF specification lets readers accept junk before the header, so look for it
    // anywhere in the head rather than only at offset 0.
    if head.windows(5).any(|window| window == b"%PDF-") {
        return Some(Kind::Pdf);
    }
    // A local file header, or the end record of an empty archive.
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Some(Kind::Zip);
    }
    None
}

fn kind_from_extension(file_name: &str) -> Kind {
    // Browsers send a bare name, but some older ones sent the whole Windows path.
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let Some((_, extension)) = base.rsplit_once('.') else {
        return Kind::Other;
    };
    match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" | "jpe" | "jfif" => Kind::Jpeg,
        "png" => Kind::Png,
        "webp" => Kind::Webp,
        "heic" | "heif" | "hif" | "avif" => Kind::Heic,
        "pdf" => Kind::Pdf,
        "docx" | "docm" | "dotx" | "dotm" | "xlsx" | "xlsm" | "xltx" | "xltm" | "pptx" | "pptm" | "potx" | "potm"
        | "ppsx" | "ppsm" | "odt" | "ott" | "ods" | "ots" | "odp" | "otp" | "odg" | "otg" | "zip" => Kind::Zip,
        // Only formats that cannot carry an author or a location. HTML, XML, RTF and e-mail
        // can, so they stay `Other` and the reporter is warned about them.
        "txt" | "text" | "csv" | "tsv" | "md" | "markdown" | "log" | "json" => Kind::Text,
        _ => Kind::Other,
    }
}

/// Whether `clean` can do something for this kind (Jpeg, Png, Webp, Pdf, Zip => true).
pub fn cleanable(kind: Kind) -> bool {
    matches!(kind, Kind::Jpeg | Kind::Png | Kind::Webp | Kind::Pdf | Kind::Zip)
}

/// One kind of identifying data that was found and removed. Coded so the caller can translate it into Dutch and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Removed {
    /// GPS position (EXIF GPS IFD present).
    Location,
    /// Other EXIF: make/model/serial/owner/artist/dates. Also camera vendor segments, a PNG
    /// modification time, and extra images or data appended after the end of an image.
    CameraData,
    /// XMP packet.
    Xmp,
    /// IPTC / Photoshop APP13.
    Iptc,
    /// JPEG COM segments, PNG tEXt/zTXt/iTXt chunks, a zip archive comment.
    Comments,
    /// PDF document information dictionary (author, title, creator, producer, dates), and
    /// application data (`/PieceInfo`) that editors attach to PDF objects.
    DocumentInfo,
    /// OOXML docProps/core.xml, app.xml, custom.xml: author, last modified by, company, manager,
    /// revision; ODF meta.xml: creator, initial creator, dates, editing cycles.
    DocumentProperties,
}

/// The result of [`clean`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    pub bytes: Vec<u8>,
    /// Sorted, deduplicated; empty = nothing was found and `bytes` equals the input.
    pub removed: Vec<Removed>,
}

impl Cleaned {
    fn unchanged(input: &[u8]) -> Self {
        Cleaned {
            bytes: input.to_vec(),
            removed: Vec::new(),
        }
    }

    fn changed(bytes: Vec<u8>, found: BTreeSet<Removed>) -> Self {
        // A BTreeSet iterates in order without duplicates, which is what the caller expects.
        Cleaned {
            bytes,
            removed: found.into_iter().collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// The bytes do not parse as the format they claim; the caller keeps the original and warns.
    #[error("file could not be read as {0:?}")]
    Unreadable(Kind),
    /// A zip that is not OOXML or ODF (or any other format we do not clean); caller keeps original and warns.
    #[error("format not supported")]
    Unsupported,
}

/// Removes identifying metadata from `input`, a whole file of the given kind.
pub fn clean(kind: Kind, input: &[u8]) -> Result<Cleaned, CleanError> {
    // The parsers run on files from anonymous uploaders. Should one of them panic on a
    // malformed file despite its checks, that should cost this one file (which the caller then
    // keeps and warns about), not the request or the worker thread. The closure owns nothing
    // that outlives it, so nothing half-updated can be observed after a panic.
    catch_unwind(AssertUnwindSafe(|| clean_uncaught(kind, input))).unwrap_or(Err(CleanError::Unreadable(kind)))
}

fn clean_uncaught(kind: Kind, input: &[u8]) -> Result<Cleaned, CleanError> {
    match kind {
        Kind::Jpeg => clean_jpeg(input),
        Kind::Png => clean_png(input),
        Kind::Webp => clean_webp(input),
        Kind::Pdf => clean_pdf(input),
        Kind::Zip => clean_zip(input),
        Kind::Heic | Kind::Text | Kind::Other => Err(CleanError::Unsupported),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared by the image formats
// ---------------------------------------------------------------------------------------------

const EXIF_PREFIX: &[u8] = b"Exif\0\0";
const XMP_NAMESPACE: &[u8] = b"http://ns.adobe.com/xap/1.0/";
const XMP_EXTENSION_NAMESPACE: &[u8] = b"http://ns.adobe.com/xmp/extension/";
const PHOTOSHOP_PREFIX: &[u8] = b"Photoshop 3.0\0";
/// TIFF tag in IFD0 that points to the GPS IFD.
const GPS_IFD_POINTER: u16 = 0x8825;

/// Records what an Exif block holds: always camera data, and a location when IFD0 points to a
/// GPS IFD. Accepts the TIFF structure with or without the `Exif\0\0` prefix, because writers
/// disagree about it in PNG and WebP.
fn note_exif(exif: &[u8], found: &mut BTreeSet<Removed>) {
    found.insert(Removed::CameraData);
    if exif_has_gps(exif) {
        found.insert(Removed::Location);
    }
}

/// Whether IFD0 of a TIFF structure (the body of an Exif block) has a GPS IFD pointer.
///
/// Only this one question is answered, so a dozen lines of bounds-checked reading suffice; the
/// whole block is removed either way, this only decides what the reporter is told.
fn exif_has_gps(exif: &[u8]) -> bool {
    let tiff = exif.strip_prefix(EXIF_PREFIX).unwrap_or(exif);
    let big_endian = match tiff.get(0..2) {
        Some(b"MM") => true,
        Some(b"II") => false,
        _ => return false,
    };
    let u16_at = |offset: usize| {
        let bytes: [u8; 2] = tiff.get(offset..offset.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        })
    };
    let u32_at = |offset: usize| {
        let bytes: [u8; 4] = tiff.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    };
    if u16_at(2) != Some(42) {
        return false;
    }
    let Some(ifd0) = u32_at(4).and_then(|offset| usize::try_from(offset).ok()) else {
        return false;
    };
    let Some(entries) = u16_at(ifd0) else {
        return false;
    };
    // Each IFD entry is 12 bytes and starts with its tag.
    (0..usize::from(entries)).any(|index| {
        let entry = ifd0.saturating_add(2).saturating_add(index * 12);
        u16_at(entry) == Some(GPS_IFD_POINTER)
    })
}

/// Whether bytes after the end of an image are only padding, which some encoders and transfer
/// tools add and which cannot identify anyone.
fn is_padding(bytes: &[u8]) -> bool {
    bytes.iter().all(|&byte| byte == 0x00 || byte == 0xFF)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// Records what data appended after the end of an image holds. Cameras and phones put extra
/// images there (multi-picture previews, depth and HDR gain maps), each with its own Exif and
/// often the same GPS position, so the whole tail is dropped and reported as camera data; the
/// blocks we recognise inside it are reported as well.
fn note_appended(tail: &[u8], found: &mut BTreeSet<Removed>) {
    found.insert(Removed::CameraData);
    let mut rest = tail;
    while let Some(at) = rest.windows(EXIF_PREFIX.len()).position(|window| window == EXIF_PREFIX) {
        note_exif(&rest[at..], found);
        rest = &rest[at + EXIF_PREFIX.len()..];
    }
    if contains(tail, XMP_NAMESPACE) {
        found.insert(Removed::Xmp);
    }
    if contains(tail, PHOTOSHOP_PREFIX) {
        found.insert(Removed::Iptc);
    }
}

// ---------------------------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------------------------

/// Decides whether a JPEG segment is dropped, recording what it held.
///
/// Kept are the segments a decoder needs or that change how the pixels look: JFIF (APP0), the
/// ICC colour profile (APP2 `ICC_PROFILE`) and Adobe's colour-transform flag (APP14). Every
/// other application segment is metadata of some kind (Exif, XMP, IPTC, maker data, the
/// multi-picture index, content credentials), and comments are free text.
fn drop_jpeg_segment(marker: u8, contents: &[u8], found: &mut BTreeSet<Removed>) -> bool {
    match marker {
        markers::APP0 | markers::APP14 => false,
        markers::APP2 if contents.starts_with(b"ICC_PROFILE\0") => false,
        markers::APP1 => {
            if contents.starts_with(EXIF_PREFIX) {
                note_exif(contents, found);
            } else if contents.starts_with(XMP_NAMESPACE) || contents.starts_with(XMP_EXTENSION_NAMESPACE) {
                found.insert(Removed::Xmp);
            } else {
                found.insert(Removed::CameraData);
            }
            true
        }
        markers::APP13 => {
            found.insert(Removed::Iptc);
            true
        }
        markers::COM => {
            found.insert(Removed::Comments);
            true
        }
        markers::APP2..=markers::APP15 => {
            found.insert(Removed::CameraData);
            true
        }
        _ => false,
    }
}

/// What follows the first SOS header of a JPEG, as far as metadata is concerned.
struct AfterFirstScan {
    /// Metadata segments between scans (progressive files), to be cut out.
    drop: Vec<Range<usize>>,
    /// Just past the EOI marker, when one was found.
    image_end: Option<usize>,
}

/// Walks the marker stream after the first SOS header. `img-parts` stops parsing there and
/// keeps the rest as one opaque tail, but progressive files have more segments in it, and
/// whatever follows EOI (extra images with their own Exif) is not part of the picture.
///
/// In entropy-coded data a 0xFF byte is always followed by a stuffed 0x00 or a restart marker,
/// so any other marker found is a real segment boundary.
fn walk_after_first_scan(data: &[u8], found: &mut BTreeSet<Removed>) -> AfterFirstScan {
    let mut drop = Vec::new();
    let mut pos = 0;
    while let Some(offset) = data
        .get(pos..)
        .and_then(|rest| rest.iter().position(|&byte| byte == 0xFF))
    {
        let start = pos + offset;
        // Markers may be preceded by any number of 0xFF fill bytes.
        let mut at = start + 1;
        while data.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = data.get(at) else { break };
        match marker {
            // Stuffed zero, TEM and restart markers carry no length; SOI should not occur here
            // and is skipped like them rather than misread as a length.
            0x00 | 0x01 | markers::RST0..=markers::SOI => pos = at + 1,
            markers::EOI => {
                return AfterFirstScan {
                    drop,
                    image_end: Some(at + 1),
                }
            }
            _ => {
                let Some(&[high, low]) = data.get(at + 1..at + 3) else {
                    break;
                };
                let length = usize::from(u16::from_be_bytes([high, low]));
                // The length counts itself; anything shorter means the file is damaged, and
                // then we cannot tell where the picture ends, so everything is kept as is.
                if length < 2 {
                    break;
                }
                let end = at + 1 + length;
                let Some(contents) = data.get(at + 3..end) else { break };
                if drop_jpeg_segment(marker, contents, found) {
                    drop.push(start..end);
                }
                pos = end;
            }
        }
    }
    AfterFirstScan { drop, image_end: None }
}

fn clean_jpeg(input: &[u8]) -> Result<Cleaned, CleanError> {
    let unreadable = || CleanError::Unreadable(Kind::Jpeg);
    let mut jpeg = Jpeg::from_bytes(Bytes::copy_from_slice(input)).map_err(|_| unreadable())?;

    // `img-parts` keeps everything after the first SOS header (the scan data, any further
    // segments, EOI and whatever follows) in that segment, byte for byte: it is the input's tail.
    let header_len: usize = jpeg.segments().iter().map(JpegSegment::len).sum();
    let total_len: usize = jpeg.segments().iter().map(JpegSegment::len_with_entropy).sum();
    let tail_len = total_len.checked_sub(header_len).ok_or_else(unreadable)?;
    let tail = input
        .len()
        .checked_sub(tail_len)
        .and_then(|start| input.get(start..))
        .ok_or_else(unreadable)?;

    let mut found = BTreeSet::new();
    let mut dropped_header_segment = false;
    jpeg.segments_mut().retain(|segment| {
        let drop = drop_jpeg_segment(segment.marker(), segment.contents(), &mut found);
        dropped_header_segment |= drop;
        !drop
    });

    let mut after = walk_after_first_scan(tail, &mut found);
    if let Some(end) = after.image_end {
        let appended = &tail[end..];
        if !is_padding(appended) {
            note_appended(appended, &mut found);
            after.drop.push(end..tail.len());
        }
    }

    if !dropped_header_segment && after.drop.is_empty() {
        return Ok(Cleaned::unchanged(input));
    }

    let encoded = jpeg.encoder().bytes();
    let head_len = encoded.len().checked_sub(tail_len).ok_or_else(unreadable)?;
    let mut out = Vec::with_capacity(encoded.len());
    out.extend_from_slice(&encoded[..head_len]);
    // The tail is copied as it was, minus the dropped ranges, so the pixel data stays identical.
    let mut copied_to = 0;
    for range in &after.drop {
        out.extend_from_slice(&tail[copied_to..range.start]);
        copied_to = range.end;
    }
    out.extend_from_slice(&tail[copied_to..]);
    Ok(Cleaned::changed(out, found))
}

// ---------------------------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------------------------

/// Decides whether a PNG chunk is dropped, recording what it held. Everything that draws the
/// picture (IHDR, PLTE, IDAT, colour chunks, animation chunks) is kept.
fn drop_png_chunk(kind: [u8; 4], contents: &[u8], found: &mut BTreeSet<Removed>) -> bool {
    match &kind {
        b"eXIf" => {
            note_exif(contents, found);
            true
        }
        b"tEXt" | b"zTXt" | b"iTXt" => {
            // The keyword before the first NUL says what the text is; ImageMagick and
            // Photoshop store whole metadata blocks under these keywords.
            let keyword = contents.split(|&byte| byte == 0).next().unwrap_or_default();
            let what = match keyword {
                b"XML:com.adobe.xmp" | b"Raw profile type xmp" => Removed::Xmp,
                b"Raw profile type exif" | b"Raw profile type APP1" => Removed::CameraData,
                b"Raw profile type iptc" | b"Raw profile type 8bim" => Removed::Iptc,
                _ => Removed::Comments,
            };
            found.insert(what);
            true
        }
        // The last-modification time; like the Exif dates it can tie the file to a device's clock.
        b"tIME" => {
            found.insert(Removed::CameraData);
            true
        }
        _ => false,
    }
}

fn clean_png(input: &[u8]) -> Result<Cleaned, CleanError> {
    let unreadable = || CleanError::Unreadable(Kind::Png);
    let mut png = Png::from_bytes(Bytes::copy_from_slice(input)).map_err(|_| unreadable())?;
    // `img-parts` accepts a file that ends cleanly between chunks; a PNG must start with IHDR
    // and end with IEND, and one that does not was cut short.
    let first = png.chunks().first().map(|chunk| chunk.kind());
    let last = png.chunks().last().map(|chunk| chunk.kind());
    if first != Some(*b"IHDR") || last != Some(*b"IEND") {
        return Err(unreadable());
    }
    let appended = input.get(png.len()..).unwrap_or_default();

    let mut found = BTreeSet::new();
    let mut dropped = false;
    png.chunks_mut().retain(|chunk| {
        let drop = drop_png_chunk(chunk.kind(), chunk.contents(), &mut found);
        dropped |= drop;
        !drop
    });
    // Re-encoding stops at IEND, so appended data goes whenever anything else does.
    let drop_appended = !is_padding(appended);
    if drop_appended {
        note_appended(appended, &mut found);
    }
    if !dropped && !drop_appended {
        return Ok(Cleaned::unchanged(input));
    }
    Ok(Cleaned::changed(png.encoder().bytes().to_vec(), found))
}

// ---------------------------------------------------------------------------------------------
// WebP
// ---------------------------------------------------------------------------------------------

/// VP8X flag bits that announce an EXIF and an XMP chunk.
const WEBP_EXIF_FLAG: u8 = 0b0000_1000;
const WEBP_XMP_FLAG: u8 = 0b0000_0100;

fn clean_webp(input: &[u8]) -> Result<Cleaned, CleanError> {
    let unreadable = || CleanError::Unreadable(Kind::Webp);
    let mut webp = WebP::from_bytes(Bytes::copy_from_slice(input)).map_err(|_| unreadable())?;
    let has_image = webp
        .chunks()
        .iter()
        .any(|chunk| matches!(&chunk.id(), b"VP8 " | b"VP8L" | b"ANMF"));
    if !has_image {
        return Err(unreadable());
    }
    let consumed = usize::try_from(webp.len()).map_err(|_| unreadable())?;
    let appended = input.get(consumed..).unwrap_or_default();

    let mut found = BTreeSet::new();
    let mut dropped = false;
    webp.chunks_mut().retain(|chunk| {
        let drop = match &chunk.id() {
            b"EXIF" => {
                note_exif(
                    chunk.content().data().map(|data| &data[..]).unwrap_or_default(),
                    &mut found,
                );
                true
            }
            b"XMP " => {
                found.insert(Removed::Xmp);
                true
            }
            _ => false,
        };
        dropped |= drop;
        !drop
    });
    let drop_appended = !is_padding(appended);
    if drop_appended {
        note_appended(appended, &mut found);
    }
    if !dropped && !drop_appended {
        return Ok(Cleaned::unchanged(input));
    }

    // Removing chunks does not touch the VP8X header, whose flags would then announce chunks
    // that are gone; strict decoders reject that.
    for chunk in webp.chunks_mut() {
        if &chunk.id() == b"VP8X" {
            if let RiffContent::Data(data) = chunk.content_mut() {
                if let Some(&flags) = data.first() {
                    let mut header = data.to_vec();
                    header[0] = flags & !(WEBP_EXIF_FLAG | WEBP_XMP_FLAG);
                    *data = Bytes::from(header);
                }
            }
        }
    }
    Ok(Cleaned::changed(webp.encoder().bytes().to_vec(), found))
}

// ---------------------------------------------------------------------------------------------
// PDF
// ---------------------------------------------------------------------------------------------

/// Keys of the document information dictionary; an unreferenced dictionary with one of these is
/// an information dictionary left behind by an earlier save.
const PDF_INFO_KEYS: [&[u8]; 8] = [
    b"Author",
    b"Creator",
    b"Producer",
    b"Title",
    b"Subject",
    b"Keywords",
    b"CreationDate",
    b"ModDate",
];
/// How many earlier revisions of an incrementally saved PDF are inspected. Each costs a full
/// load; real files rarely have more, and the rewrite drops all of them regardless.
const PDF_MAX_EARLIER_REVISIONS: usize = 8;

/// Most bytes one compressed PDF stream may inflate to while loading.
const PDF_STREAM_MAX: usize = 2 * 1024 * 1024;
/// Earlier revisions are only inspected in files up to this size (each is a full load).
const PDF_REVISIONS_MAX_INPUT: usize = 4 * 1024 * 1024;

std::thread_local! {
    /// Bytes a PDF being loaded on this thread may still take up once parsed.
    static PDF_BUDGET: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Counts every loaded object against the budget and drops objects once it is spent, so a
/// small file of many compressed object streams (a decompression bomb) cannot take more than
/// the budget; `load_pdf` then refuses the document.
fn pdf_budget_filter(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let cost = match &*object {
        Object::Stream(stream) => stream.content.len(),
        Object::String(bytes, _) => bytes.len(),
        Object::Array(items) => items.len() * 32,
        Object::Dictionary(dict) => dict.len() * 64,
        _ => 0,
    } as i64
        + 64;
    let left = PDF_BUDGET.with(|b| {
        let left = b.get() - cost;
        b.set(left);
        left
    });
    // lopdf keeps its own copy of a top-level object and uses the returned one only for
    // objects unpacked from object streams, so the object is cloned, not taken.
    (left >= 0).then(|| (id, object.clone()))
}

/// Loads a PDF with bounded decompression: an object stream may inflate to 2 MiB, and the parsed
/// document may take four times the file's size (at least 16 MiB, at most 128 MiB).
fn load_pdf(input: &[u8]) -> Option<Document> {
    let budget = (input.len().saturating_mul(4)).clamp(16 << 20, 128 << 20) as i64;
    PDF_BUDGET.with(|b| b.set(budget));
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(PDF_STREAM_MAX),
        filter: Some(pdf_budget_filter),
        ..Default::default()
    };
    let doc = Document::load_mem_with_options(input, options).ok()?;
    (PDF_BUDGET.with(|b| b.get()) >= 0).then_some(doc)
}

fn clean_pdf(input: &[u8]) -> Result<Cleaned, CleanError> {
    let unreadable = || CleanError::Unreadable(Kind::Pdf);
    let mut doc = load_pdf(input).ok_or_else(unreadable)?;
    // lopdf opens files encrypted with an empty user password (the usual case for
    // "restrictions only" PDFs) and removes `/Encrypt`; if it is still there, a password is
    // needed and nothing inside could be read or rewritten.
    if doc.trailer.has(b"Encrypt") || doc.catalog().is_err() {
        return Err(unreadable());
    }

    let mut found = pdf_findings(&doc);
    // An incremental save appends a new revision and leaves the old objects in the file, so an
    // author removed in the last revision may still be in the bytes. The rewrite below drops
    // old revisions; this only finds out what they held, so the reporter is told and a file
    // whose last revision is clean is still rewritten.
    if doc.revision_count() > 1 && input.len() <= PDF_REVISIONS_MAX_INPUT {
        found.extend(earlier_revision_findings(input));
    }
    if found.is_empty() {
        return Ok(Cleaned::unchanged(input));
    }

    if let Some(Object::Reference(info)) = doc.trailer.remove(b"Info") {
        doc.objects.remove(&info);
    }
    strip_pdf_keys(&mut doc.trailer);
    for object in doc.objects.values_mut() {
        strip_pdf_keys_in(object);
    }
    // What the removed keys pointed to (XMP streams, piece dictionaries) and objects that only
    // older revisions used are now unreferenced; a fresh save without them holds no trace.
    doc.prune_objects();
    let mut out = Vec::with_capacity(input.len());
    doc.save_to(&mut out).map_err(|_| unreadable())?;
    // Saved objects are no longer packed in compressed object streams, so the file grows a
    // little; a file that grows a lot was built to blow up, and is kept as it came.
    if out.len() > input.len().saturating_mul(4).max(1 << 20) {
        return Err(unreadable());
    }
    Ok(Cleaned::changed(out, found))
}

/// What identifying data a loaded PDF holds.
fn pdf_findings(doc: &Document) -> BTreeSet<Removed> {
    let mut found = BTreeSet::new();
    let info_has_entries = match doc.trailer.get(b"Info") {
        Ok(Object::Reference(id)) => doc.get_dictionary(*id).is_ok_and(|info| !info.is_empty()),
        Ok(Object::Dictionary(info)) => !info.is_empty(),
        _ => false,
    };
    if info_has_entries {
        found.insert(Removed::DocumentInfo);
    }

    let reachable = pdf_reachable(doc);
    for (id, object) in &doc.objects {
        note_pdf_keys(object, &mut found);
        // An information dictionary nothing points to any more is still in the file.
        if !reachable.contains(id) {
            if let Object::Dictionary(dict) = object {
                if PDF_INFO_KEYS.iter().any(|key| dict.has(key)) {
                    found.insert(Removed::DocumentInfo);
                }
            }
        }
    }
    found
}

/// Records `/Metadata` and `/PieceInfo` entries, and XMP streams themselves, anywhere inside
/// `root`. Iterative, because nesting depth is up to whoever made the file.
fn note_pdf_keys(root: &Object, found: &mut BTreeSet<Removed>) {
    let mut stack = vec![root];
    while let Some(object) = stack.pop() {
        let dict = match object {
            Object::Dictionary(dict) => dict,
            Object::Stream(stream) => &stream.dict,
            Object::Array(items) => {
                stack.extend(items);
                continue;
            }
            _ => continue,
        };
        if dict.has(b"Metadata") || dict.has_type(b"Metadata") {
            found.insert(Removed::Xmp);
        }
        if dict.has(b"PieceInfo") {
            found.insert(Removed::DocumentInfo);
        }
        stack.extend(dict.iter().map(|(_, value)| value));
    }
}

/// The objects reachable from the trailer, the same notion `Document::prune_objects` uses.
fn pdf_reachable(doc: &Document) -> HashSet<ObjectId> {
    let mut seen = HashSet::new();
    let mut stack: Vec<&Object> = doc.trailer.iter().map(|(_, value)| value).collect();
    while let Some(object) = stack.pop() {
        match object {
            // Each object is followed once, however often it is referenced (and in cycles).
            Object::Reference(id) if seen.insert(*id) => stack.extend(doc.objects.get(id)),
            Object::Array(items) => stack.extend(items),
            Object::Dictionary(dict) => stack.extend(dict.iter().map(|(_, value)| value)),
            Object::Stream(stream) => stack.extend(stream.dict.iter().map(|(_, value)| value)),
            _ => {}
        }
    }
    seen
}

fn strip_pdf_keys(dict: &mut lopdf::Dictionary) {
    dict.remove(b"Metadata");
    dict.remove(b"PieceInfo");
    for (_, value) in dict.iter_mut() {
        strip_pdf_keys_in(value);
    }
}

/// Removes `/Metadata` and `/PieceInfo` from every dictionary nested inside `root`.
fn strip_pdf_keys_in(root: &mut Object) {
    let mut stack = vec![root];
    while let Some(object) = stack.pop() {
        let dict = match object {
            Object::Dictionary(dict) => dict,
            Object::Stream(stream) => &mut stream.dict,
            Object::Array(items) => {
                stack.extend(items.iter_mut());
                continue;
            }
            _ => continue,
        };
        dict.remove(b"Metadata");
        dict.remove(b"PieceInfo");
        stack.extend(dict.iter_mut().map(|(_, value)| value));
    }
}

/// What the earlier revisions of an incrementally saved PDF held. Each revision ends with an
/// `%%EOF` line, and the file cut there is that revision as it was saved, which lopdf can load
/// on its own. A cut that does not load (the marker was inside a stream) is skipped.
fn earlier_revision_findings(input: &[u8]) -> BTreeSet<Removed> {
    const EOF_MARKER: &[u8] = b"%%EOF";
    let ends: Vec<usize> = input
        .windows(EOF_MARKER.len())
        .enumerate()
        .filter(|(_, window)| *window == EOF_MARKER)
        .map(|(at, _)| at + EOF_MARKER.len())
        .collect();
    let mut found = BTreeSet::new();
    // The last marker ends the current revision, which was inspected already.
    let earlier = ends.len().saturating_sub(1);
    for &end in ends[..earlier].iter().rev().take(PDF_MAX_EARLIER_REVISIONS) {
        if let Some(doc) = load_pdf(&input[..end]) {
            if !doc.trailer.has(b"Encrypt") {
                found.extend(pdf_findings(&doc));
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Zip: OOXML and ODF
// ---------------------------------------------------------------------------------------------

/// The property parts are small; this only guards against a zip bomb posing as one.
const PART_READ_LIMIT: u64 = 8 << 20;

const EMPTY_CORE_PROPERTIES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>"#;
const EMPTY_APP_PROPERTIES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"/>"#;
const EMPTY_CUSTOM_PROPERTIES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"/>"#;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Package {
    Ooxml,
    Odf,
}

type Archive<'a> = ZipArchive<Cursor<&'a [u8]>>;

/// OPC part names are case-insensitive, and some writers store them with a leading slash.
fn is_part(name: &str, part: &str) -> bool {
    name.strip_prefix('/').unwrap_or(name).eq_ignore_ascii_case(part)
}

/// The decompressed content of entry `index`, at most `limit` bytes; `None` when it cannot be
/// read (encrypted, damaged, unsupported compression).
fn read_entry(archive: &mut Archive<'_>, index: usize, limit: u64) -> Option<Vec<u8>> {
    let entry = archive.by_index(index).ok()?;
    let mut content = Vec::new();
    entry.take(limit).read_to_end(&mut content).ok()?;
    Some(content)
}

/// An ODF `meta.xml` with nothing in `office:meta`, keeping the original's `office:version`,
/// which tells readers which schema the rest of the document follows.
fn empty_odf_meta(original: &[u8]) -> Vec<u8> {
    let version = odf_version(original);
    let mut meta = Vec::with_capacity(300);
    meta.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document-meta xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\"",
    );
    if let Some(version) = version {
        meta.extend_from_slice(b" office:version=\"");
        meta.extend_from_slice(version);
        meta.extend_from_slice(b"\"");
    }
    meta.extend_from_slice(b"><office:meta/></office:document-meta>");
    meta
}

/// The value of the first `office:version` attribute, if it looks like a version number. A
/// value we cannot vouch for is left out rather than copied into the new part.
fn odf_version(xml: &[u8]) -> Option<&[u8]> {
    const ATTRIBUTE: &[u8] = b"office:version=";
    let at = xml.windows(ATTRIBUTE.len()).position(|window| window == ATTRIBUTE)?;
    let rest = xml.get(at + ATTRIBUTE.len()..)?;
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[..rest.iter().position(|&byte| byte == quote)?];
    let plausible = !value.is_empty() && value.len() <= 8 && value.iter().all(|&b| b.is_ascii_digit() || b == b'.');
    plausible.then_some(value)
}

/// Most bytes of pictures inside one document that are read to be cleaned (each at most
/// `PART_READ_LIMIT`); pictures past it are copied as they are (the reporter is warned that
/// documents may still hold identifying data).
const EMBEDDED_IMAGES_LIMIT: u64 = 64 << 20;

/// A JPEG, PNG or WebP part of a document, cleaned, if it held anything. Parts too large to
/// read whole are left alone rather than cut short.
fn clean_embedded_image(archive: &mut Archive<'_>, index: usize, name: &str, budget: &mut u64) -> Option<Cleaned> {
    let lower = name.to_ascii_lowercase();
    if ![".jpg", ".jpeg", ".png", ".webp"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        return None;
    }
    let size = archive.by_index(index).ok()?.size();
    if size > PART_READ_LIMIT || size > *budget {
        return None;
    }
    *budget -= size;
    let bytes = read_entry(archive, index, PART_READ_LIMIT)?;
    let kind = sniff(&bytes[..bytes.len().min(64)], name);
    if !matches!(kind, Kind::Jpeg | Kind::Png | Kind::Webp) {
        return None;
    }
    clean_uncaught(kind, &bytes).ok().filter(|c| !c.removed.is_empty())
}

fn clean_zip(input: &[u8]) -> Result<Cleaned, CleanError> {
    let unreadable = |_| CleanError::Unreadable(Kind::Zip);
    let mut archive = ZipArchive::new(Cursor::new(input)).map_err(unreadable)?;
    // A name that does not decode cannot be one of the parts we look for; it is copied as is.
    let names: Vec<String> = (0..archive.len())
        .map(|index| match archive.name_for_index(index) {
            Some(Ok(name)) => name.into_owned(),
            _ => String::new(),
        })
        .collect();

    let package = if names.iter().any(|name| is_part(name, "[Content_Types].xml")) {
        Package::Ooxml
    } else {
        let odf = names
            .iter()
            .position(|name| name == "mimetype")
            .and_then(|index| read_entry(&mut archive, index, 128))
            .is_some_and(|mimetype| mimetype.starts_with(b"application/vnd.oasis.opendocument"));
        if !odf {
            return Err(CleanError::Unsupported);
        }
        // In a password-protected ODF file the parts are encrypted and listed so in the
        // manifest; a plain meta.xml in their place would make the document fail to open.
        let encrypted = names
            .iter()
            .position(|name| name == "META-INF/manifest.xml")
            .and_then(|index| read_entry(&mut archive, index, PART_READ_LIMIT))
            .is_some_and(|manifest| contains(&manifest, b"encryption-data"));
        if encrypted {
            return Err(CleanError::Unsupported);
        }
        Package::Odf
    };

    let mut found = BTreeSet::new();
    let mut replacements: Vec<Option<Vec<u8>>> = vec![None; names.len()];
    let mut image_budget = EMBEDDED_IMAGES_LIMIT;
    for (index, name) in names.iter().enumerate() {
        // Pictures pasted into a document (word/media, Pictures/, thumbnails) carry their own
        // EXIF and GPS: they are cleaned like uploaded images.
        if let Some(cleaned) = clean_embedded_image(&mut archive, index, name, &mut image_budget) {
            found.extend(cleaned.removed);
            replacements[index] = Some(cleaned.bytes);
            continue;
        }
        let is_target = match package {
            Package::Ooxml => ["docProps/core.xml", "docProps/app.xml", "docProps/custom.xml"]
                .iter()
                .any(|part| is_part(name, part)),
            Package::Odf => name == "meta.xml",
        };
        if !is_target {
            continue;
        }
        // A part that cannot be read is replaced all the same: we cannot tell it is harmless.
        let original = read_entry(&mut archive, index, PART_READ_LIMIT);
        let replacement = match package {
            Package::Odf => empty_odf_meta(original.as_deref().unwrap_or_default()),
            Package::Ooxml if is_part(name, "docProps/core.xml") => EMPTY_CORE_PROPERTIES.to_vec(),
            Package::Ooxml if is_part(name, "docProps/app.xml") => EMPTY_APP_PROPERTIES.to_vec(),
            Package::Ooxml => EMPTY_CUSTOM_PROPERTIES.to_vec(),
        };
        // A part that is already what we would write (a file cleaned before) is left alone, so
        // cleaning twice changes nothing the second time.
        if original.as_deref() != Some(&replacement[..]) {
            found.insert(Removed::DocumentProperties);
            replacements[index] = Some(replacement);
        }
    }
    // The archive comment is free text that Office never writes; the new archive has none.
    if !archive.comment().is_empty() {
        found.insert(Removed::Comments);
    }
    if found.is_empty() {
        return Ok(Cleaned::unchanged(input));
    }

    let mut writer = ZipWriter::new(Cursor::new(Vec::with_capacity(input.len())));
    for (index, replacement) in replacements.into_iter().enumerate() {
        let entry = archive.by_index_raw(index).map_err(unreadable)?;
        match replacement {
            // Copied compressed, as it was: no recompression, so the content cannot change,
            // and ODF's leading uncompressed `mimetype` stays exactly where and how it was.
            None => writer.raw_copy_file(entry).map_err(unreadable)?,
            Some(content) => {
                let options = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Deflated)
                    .last_modified_time(entry.last_modified().unwrap_or_default());
                drop(entry);
                writer.start_file(names[index].as_str(), options).map_err(unreadable)?;
                writer
                    .write_all(&content)
                    .map_err(|_| CleanError::Unreadable(Kind::Zip))?;
            }
        }
    }
    let bytes = writer.finish().map_err(unreadable)?.into_inner();
    Ok(Cleaned::changed(bytes, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    use img_parts::png::PngChunk;
    use img_parts::riff::RiffChunk;
    use lopdf::{dictionary, Stream};

    /// Every fixture names this person; it must be gone after cleaning.
    const NAME: &[u8] = b"Klokkenluider";

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/metadata")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
    }

    /// Every fixture, with the kind it must be sniffed as.
    const FIXTURES: [(&str, Kind); 6] = [
        ("photo-gps-author.jpg", Kind::Jpeg),
        ("screenshot-author.png", Kind::Png),
        ("letter-author.pdf", Kind::Pdf),
        ("memo-author.docx", Kind::Zip),
        ("budget-author.xlsx", Kind::Zip),
        ("minutes-author.odt", Kind::Zip),
    ];

    fn clean_fixture(name: &str) -> (Vec<u8>, Cleaned) {
        let original = fixture(name);
        let kind = sniff(&original, name);
        let cleaned = clean(kind, &original).unwrap_or_else(|error| panic!("cleaning {name}: {error}"));
        assert!(
            cleaned.removed.windows(2).all(|pair| pair[0] < pair[1]),
            "{name}: {:?}",
            cleaned.removed
        );
        (original, cleaned)
    }

    fn assert_no_name(bytes: &[u8], what: &str) {
        assert!(!contains(bytes, NAME), "{what} still names the reporter");
    }

    /// Every entry of a zip, decompressed, in archive order; panics if one cannot be read.
    fn unpack(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = ZipArchive::new(Cursor::new(bytes)).expect("zip opens");
        (0..archive.len())
            .map(|index| {
                let mut entry = archive.by_index(index).expect("entry opens");
                let name = entry.name().expect("entry name").into_owned();
                let mut content = Vec::new();
                entry
                    .read_to_end(&mut content)
                    .unwrap_or_else(|error| panic!("reading {name}: {error}"));
                (name, content)
            })
            .collect()
    }

    /// The bytes from the first SOS marker to the end: the compressed pixels.
    fn jpeg_scan_data(bytes: &[u8]) -> &[u8] {
        let jpeg = Jpeg::from_bytes(Bytes::copy_from_slice(bytes)).expect("jpeg parses");
        let sos = 2 + jpeg
            .segments()
            .iter()
            .take_while(|segment| segment.marker() != markers::SOS)
            .map(JpegSegment::len)
            .sum::<usize>();
        &bytes[sos..]
    }

    fn jpeg_markers(bytes: &[u8]) -> Vec<u8> {
        let jpeg = Jpeg::from_bytes(Bytes::copy_from_slice(bytes)).expect("jpeg parses");
        jpeg.segments().iter().map(JpegSegment::marker).collect()
    }

    fn jpeg_segment(marker: u8, contents: &[u8]) -> Vec<u8> {
        let length = u16::try_from(contents.len() + 2).expect("segment fits");
        let mut segment = vec![0xFF, marker];
        segment.extend_from_slice(&length.to_be_bytes());
        segment.extend_from_slice(contents);
        segment
    }

    /// A TIFF structure as found in an Exif block: IFD0 with an Artist naming the reporter and,
    /// if asked, a pointer to an (empty) GPS IFD.
    fn tiff(big_endian: bool, gps: bool) -> Vec<u8> {
        let u16b = |value: u16| {
            if big_endian {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            }
        };
        let u32b = |value: u32| {
            if big_endian {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            }
        };
        let artist = b"Jan Klokkenluider\0";
        let entries: u16 = if gps { 2 } else { 1 };
        let ifd0_len = 2 + 12 * u32::from(entries) + 4;
        let artist_at = 8 + ifd0_len;
        let gps_at = artist_at + artist.len() as u32;

        let mut out = Vec::new();
        out.extend_from_slice(if big_endian { b"MM" } else { b"II" });
        out.extend_from_slice(&u16b(42));
        out.extend_from_slice(&u32b(8));
        out.extend_from_slice(&u16b(entries));
        // Artist: ASCII, stored at `artist_at`.
        out.extend_from_slice(&u16b(0x013B));
        out.extend_from_slice(&u16b(2));
        out.extend_from_slice(&u32b(artist.len() as u32));
        out.extend_from_slice(&u32b(artist_at));
        if gps {
            out.extend_from_slice(&u16b(GPS_IFD_POINTER));
            out.extend_from_slice(&u16b(4));
            out.extend_from_slice(&u32b(1));
            out.extend_from_slice(&u32b(gps_at));
        }
        out.extend_from_slice(&u32b(0));
        out.extend_from_slice(artist);
        // The GPS IFD: no entries, no next IFD.
        out.extend_from_slice(&u16b(0));
        out.extend_from_slice(&u32b(0));
        out
    }

    fn exif_block(gps: bool) -> Vec<u8> {
        [EXIF_PREFIX, &tiff(true, gps)].concat()
    }

    // --- sniffing ---------------------------------------------------------------------------

    #[test]
    fn sniff_recognises_every_fixture_by_content() {
        for (name, kind) in FIXTURES {
            let bytes = fixture(name);
            assert_eq!(sniff(&bytes, name), kind, "{name}");
            // Only the first 64 bytes are needed, and the name does not override the content.
            assert_eq!(
                sniff(&bytes[..SNIFF_LEN], "upload.bin"),
                kind,
                "{name} without its name"
            );
            assert_eq!(sniff(&bytes[..SNIFF_LEN], "misleading.txt"), kind, "{name} misnamed");
        }
    }

    #[test]
    fn sniff_falls_back_to_the_extension() {
        let words = b"just some words, no magic number here";
        assert_eq!(sniff(words, "brief.PDF"), Kind::Pdf);
        assert_eq!(sniff(words, r"C:\Users\jan\notes.txt"), Kind::Text);
        assert_eq!(sniff(words, "export/data.csv"), Kind::Text);
        assert_eq!(sniff(words, "README.md"), Kind::Text);
        assert_eq!(sniff(words, "page.html"), Kind::Other);
        assert_eq!(sniff(words, "no-extension"), Kind::Other);
        assert_eq!(sniff(words, "IMG_0001.HEIC"), Kind::Heic);
        assert_eq!(sniff(b"", "photo.jpeg"), Kind::Jpeg);
        assert_eq!(sniff(b"", "scan.webp"), Kind::Webp);
        assert_eq!(sniff(b"", "sheet.ods"), Kind::Zip);
    }

    #[test]
    fn sniff_reads_magic_numbers() {
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "x"), Kind::Heic);
        // Major brand `mif1`, with `heic` only among the compatible brands.
        assert_eq!(sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1miafheic", "x"), Kind::Heic);
        assert_eq!(sniff(b"\0\0\0\x18ftypavif\0\0\0\0avifmif1", "x"), Kind::Heic);
        // Other ISO media is not HEIF, whatever it is called.
        assert_eq!(sniff(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2", "clip.mp4"), Kind::Other);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 ", "x"), Kind::Webp);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt ", "x"), Kind::Other);
        assert_eq!(sniff(b"\r\n%PDF-1.7\n", "x"), Kind::Pdf);
        assert_eq!(sniff(b"PK\x05\x06\0\0\0\0", "x"), Kind::Zip);
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0], "x.pdf"), Kind::Jpeg);
    }

    #[test]
    fn cleanable_kinds() {
        for kind in [Kind::Jpeg, Kind::Png, Kind::Webp, Kind::Pdf, Kind::Zip] {
            assert!(cleanable(kind), "{kind:?}");
        }
        for kind in [Kind::Heic, Kind::Text, Kind::Other] {
            assert!(!cleanable(kind), "{kind:?}");
            assert!(
                matches!(clean(kind, b"anything"), Err(CleanError::Unsupported)),
                "{kind:?}"
            );
        }
    }

    // --- the fixtures -----------------------------------------------------------------------

    #[test]
    fn jpeg_fixture_loses_exif_and_gps_but_keeps_its_pixels() {
        let (original, cleaned) = clean_fixture("photo-gps-author.jpg");
        assert_eq!(cleaned.removed, [Removed::Location, Removed::CameraData]);
        assert_no_name(&cleaned.bytes, "cleaned JPEG");
        let markers_left = jpeg_markers(&cleaned.bytes);
        assert_eq!(markers_left.first(), Some(&markers::APP0), "JFIF header kept");
        assert!(!markers_left.contains(&markers::APP1), "{markers_left:x?}");
        assert_eq!(jpeg_scan_data(&cleaned.bytes), jpeg_scan_data(&original));
        assert!(cleaned.bytes.len() < original.len());
    }

    #[test]
    fn png_fixture_loses_text_and_exif_chunks() {
        let (original, cleaned) = clean_fixture("screenshot-author.png");
        assert_eq!(cleaned.removed, [Removed::CameraData, Removed::Comments]);
        assert_no_name(&cleaned.bytes, "cleaned PNG");
        let png = Png::from_bytes(Bytes::from(cleaned.bytes)).expect("cleaned PNG parses");
        let kinds: Vec<[u8; 4]> = png.chunks().iter().map(PngChunk::kind).collect();
        assert_eq!(kinds, [*b"IHDR", *b"IDAT", *b"IEND"]);
        let before = Png::from_bytes(Bytes::from(original)).expect("fixture parses");
        for kind in [*b"IHDR", *b"IDAT"] {
            assert_eq!(png.chunk_by_type(kind), before.chunk_by_type(kind));
        }
    }

    #[test]
    fn pdf_fixture_loses_its_information_dictionary() {
        let (original, cleaned) = clean_fixture("letter-author.pdf");
        assert_eq!(cleaned.removed, [Removed::DocumentInfo]);
        assert_no_name(&cleaned.bytes, "cleaned PDF");
        let doc = Document::load_mem(&cleaned.bytes).expect("cleaned PDF loads");
        assert!(!doc.trailer.has(b"Info"));
        assert!(pdf_findings(&doc).is_empty());
        let before = Document::load_mem(&original).expect("fixture loads");
        assert_eq!(doc.get_pages().len(), before.get_pages().len());
        for (page, before_page) in doc.page_iter().zip(before.page_iter()) {
            assert_eq!(doc.get_page_content(page), before.get_page_content(before_page));
        }
    }

    /// Checks a cleaned OOXML or ODF file part by part against the original.
    fn check_package(name: &str, replaced: &[(&str, &[u8])], removed: &[Removed]) {
        let (original, cleaned) = clean_fixture(name);
        assert_eq!(cleaned.removed, removed, "{name}");
        let before = unpack(&original);
        let after = unpack(&cleaned.bytes);
        let names = |parts: &[(String, Vec<u8>)]| parts.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&after), names(&before), "{name}: same entries in the same order");
        for ((part, content), (_, old)) in after.iter().zip(&before) {
            assert_no_name(content, &format!("{name}: {part}"));
            let picture = [".jpeg", ".jpg", ".png"].iter().any(|ext| part.ends_with(ext));
            match replaced.iter().find(|(target, _)| target == part) {
                Some((_, new)) => assert_eq!(content, new, "{name}: {part}"),
                // A picture (the thumbnail) may have been cleaned: it must still be the same
                // kind of picture, with nothing left to remove.
                None if picture && content != old => {
                    let kind = sniff(content, part);
                    assert_eq!(kind, sniff(old, part), "{name}: {part}");
                    assert_eq!(
                        clean(kind, content).expect("picture reads").removed,
                        vec![],
                        "{name}: {part}"
                    );
                }
                None => assert_eq!(content, old, "{name}: {part} unchanged"),
            }
        }
        // Nothing in the archive's own bytes either (names, comments).
        assert_no_name(&cleaned.bytes, name);
    }

    #[test]
    fn docx_fixture_loses_its_document_properties() {
        check_package(
            "memo-author.docx",
            &[
                ("docProps/core.xml", EMPTY_CORE_PROPERTIES),
                ("docProps/app.xml", EMPTY_APP_PROPERTIES),
            ],
            // The thumbnail python-docx put in carries EXIF of its own.
            &[Removed::CameraData, Removed::DocumentProperties],
        );
    }

    #[test]
    fn xlsx_fixture_loses_its_document_properties() {
        check_package(
            "budget-author.xlsx",
            &[
                ("docProps/core.xml", EMPTY_CORE_PROPERTIES),
                ("docProps/app.xml", EMPTY_APP_PROPERTIES),
            ],
            &[Removed::DocumentProperties],
        );
    }

    #[test]
    fn odt_fixture_loses_its_meta_and_keeps_the_mimetype_first() {
        let expected_meta = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document-meta xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" office:version=\"1.2\"><office:meta/></office:document-meta>";
        check_package(
            "minutes-author.odt",
            &[("meta.xml", expected_meta)],
            &[Removed::DocumentProperties],
        );

        // ODF readers recognise the format by an uncompressed `mimetype` entry at offset 0,
        // its name at byte 30 and its content right after.
        let (_, cleaned) = clean_fixture("minutes-author.odt");
        let mimetype = b"application/vnd.oasis.opendocument.text";
        assert_eq!(&cleaned.bytes[30..38], b"mimetype");
        assert_eq!(&cleaned.bytes[38..38 + mimetype.len()], mimetype);
        let mut archive = ZipArchive::new(Cursor::new(&cleaned.bytes[..])).expect("zip opens");
        let first = archive.by_index(0).expect("first entry");
        assert_eq!(first.name().expect("name"), "mimetype");
        assert_eq!(first.compression(), CompressionMethod::Stored);
    }

    #[test]
    fn cleaning_a_cleaned_file_changes_nothing() {
        for (name, kind) in FIXTURES {
            let (_, once) = clean_fixture(name);
            let twice = clean(kind, &once.bytes).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert!(twice.removed.is_empty(), "{name}: {:?}", twice.removed);
            assert_eq!(twice.bytes, once.bytes, "{name} came back changed");
        }
    }

    // --- damaged and unsupported input ------------------------------------------------------

    #[test]
    fn garbage_named_pdf_is_unreadable() {
        let garbage = b"this is not a PDF at all, just some words\n".repeat(20);
        let kind = sniff(&garbage, "brief.pdf");
        assert_eq!(kind, Kind::Pdf);
        assert!(matches!(clean(kind, &garbage), Err(CleanError::Unreadable(Kind::Pdf))));
    }

    #[test]
    fn truncated_images_are_unreadable() {
        let jpeg = fixture("photo-gps-author.jpg");
        // Cut inside the Exif segment: the header can no longer be parsed.
        assert!(matches!(
            clean(Kind::Jpeg, &jpeg[..100]),
            Err(CleanError::Unreadable(Kind::Jpeg))
        ));
        assert!(matches!(
            clean(Kind::Jpeg, &jpeg[..2]),
            Err(CleanError::Unreadable(Kind::Jpeg))
        ));
        let png = fixture("screenshot-author.png");
        assert!(matches!(
            clean(Kind::Png, &png[..png.len() - 20]),
            Err(CleanError::Unreadable(Kind::Png))
        ));
        // Cut exactly between chunks, before IEND.
        assert!(matches!(
            clean(Kind::Png, &png[..png.len() - 12]),
            Err(CleanError::Unreadable(Kind::Png))
        ));
        // A file of one format claimed to be another.
        assert!(matches!(
            clean(Kind::Webp, &png),
            Err(CleanError::Unreadable(Kind::Webp))
        ));
        assert!(matches!(clean(Kind::Zip, &png), Err(CleanError::Unreadable(Kind::Zip))));
    }

    /// Cuts every fixture short at many points and flips single bytes, calling the cleaner
    /// without the panic guard: none of it may panic, whatever the result.
    #[test]
    fn damaged_fixtures_never_panic() {
        for (name, kind) in FIXTURES {
            let bytes = fixture(name);
            let step = (bytes.len() / 400).max(1);
            for cut in (0..bytes.len()).step_by(step) {
                let _ = clean_uncaught(kind, &bytes[..cut]);
            }
            for at in (0..bytes.len()).step_by(step * 3) {
                let mut damaged = bytes.clone();
                damaged[at] ^= 0x5A;
                let _ = clean_uncaught(kind, &damaged);
            }
        }
    }

    #[test]
    fn a_jpeg_cut_inside_its_pixels_is_still_cleaned() {
        let jpeg = fixture("photo-gps-author.jpg");
        let cut = &jpeg[..jpeg.len() - 1000];
        let cleaned = clean(Kind::Jpeg, cut).expect("headers are intact");
        assert_eq!(cleaned.removed, [Removed::Location, Removed::CameraData]);
        assert_no_name(&cleaned.bytes, "cleaned cut JPEG");
        assert_eq!(jpeg_scan_data(&cleaned.bytes), jpeg_scan_data(cut));
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in entries {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .expect("start entry");
            writer.write_all(content).expect("write entry");
        }
        writer.finish().expect("finish zip").into_inner()
    }

    #[test]
    fn other_zips_are_unsupported() {
        let plain = zip_of(&[("notes.txt", b"Jan Klokkenluider"), ("photo.jpg", b"not really")]);
        assert_eq!(sniff(&plain, "evidence.zip"), Kind::Zip);
        assert!(matches!(clean(Kind::Zip, &plain), Err(CleanError::Unsupported)));

        // An EPUB has a `mimetype` entry too, but not an OpenDocument one.
        let epub = zip_of(&[("mimetype", b"application/epub+zip"), ("content.opf", b"<package/>")]);
        assert!(matches!(clean(Kind::Zip, &epub), Err(CleanError::Unsupported)));

        // A password-protected OpenDocument file cannot be cleaned without breaking it.
        let encrypted = zip_of(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            (
                "META-INF/manifest.xml",
                b"<manifest:file-entry><manifest:encryption-data/></manifest:file-entry>",
            ),
            ("meta.xml", b"\x8f\x13 encrypted"),
        ]);
        assert!(matches!(clean(Kind::Zip, &encrypted), Err(CleanError::Unsupported)));
    }

    // --- JPEG details -----------------------------------------------------------------------

    #[test]
    fn jpeg_keeps_colour_segments_and_drops_all_other_metadata() {
        let original = fixture("photo-gps-author.jpg");
        // After APP0 (bytes 2..20), add one segment of every kind.
        let icc = [b"ICC_PROFILE\0\x01\x01".as_slice(), &[0u8; 32]].concat();
        let xmp = [XMP_NAMESPACE, b"\0<x:xmpmeta>Jan Klokkenluider</x:xmpmeta>"].concat();
        let iptc = [
            PHOTOSHOP_PREFIX,
            b"8BIM\x04\x04\0\0\0\0\0\x12\x1c\x02\x50\0\x11Jan Klokkenluider",
        ]
        .concat();
        let inserted = [
            jpeg_segment(markers::APP2, &icc),
            jpeg_segment(markers::APP14, b"Adobe\0\x64\0\0\0\0\x01"),
            jpeg_segment(markers::APP1, &xmp),
            jpeg_segment(markers::APP13, &iptc),
            jpeg_segment(markers::COM, b"Photo by Jan Klokkenluider"),
            jpeg_segment(markers::APP2, b"MPF\0II*\0"),
            jpeg_segment(markers::APP11, b"JP\0\0jumbf c2pa Jan Klokkenluider"),
        ]
        .concat();
        let input = [&original[..20], &inserted, &original[20..]].concat();

        let cleaned = clean(Kind::Jpeg, &input).expect("cleans");
        assert_eq!(
            cleaned.removed,
            [
                Removed::Location,
                Removed::CameraData,
                Removed::Xmp,
                Removed::Iptc,
                Removed::Comments
            ]
        );
        assert_no_name(&cleaned.bytes, "cleaned JPEG");
        let left = jpeg_markers(&cleaned.bytes);
        assert_eq!(left[..3], [markers::APP0, markers::APP2, markers::APP14], "{left:x?}");
        assert!(!left
            .iter()
            .any(|m| matches!(*m, markers::APP1 | markers::APP11 | markers::APP13 | markers::COM)));
        let jpeg = Jpeg::from_bytes(Bytes::from(cleaned.bytes.clone())).expect("parses");
        assert_eq!(
            jpeg.segments_by_marker(markers::APP2).count(),
            1,
            "only the ICC profile"
        );
        assert_eq!(jpeg_scan_data(&cleaned.bytes), jpeg_scan_data(&original));
    }

    #[test]
    fn jpeg_loses_images_appended_after_the_end_but_keeps_padding() {
        let original = fixture("photo-gps-author.jpg");
        let cleaned_plain = clean(Kind::Jpeg, &original).expect("cleans").bytes;

        // A phone's second image (preview or depth map) with its own Exif and GPS.
        let second = [
            &[0xFF, 0xD8][..],
            &jpeg_segment(markers::APP1, &exif_block(true)),
            &[0xFF, 0xD9],
        ]
        .concat();
        let cleaned = clean(Kind::Jpeg, &[&cleaned_plain[..], &second].concat()).expect("cleans");
        assert_eq!(cleaned.removed, [Removed::Location, Removed::CameraData]);
        assert_eq!(cleaned.bytes, cleaned_plain);

        // Zero padding after EOI identifies nobody and is left alone.
        let padded = [&cleaned_plain[..], &[0u8; 64]].concat();
        let cleaned = clean(Kind::Jpeg, &padded).expect("cleans");
        assert!(cleaned.removed.is_empty());
        assert_eq!(cleaned.bytes, padded);
    }

    #[test]
    fn jpeg_loses_comments_between_scans() {
        let original = clean(Kind::Jpeg, &fixture("photo-gps-author.jpg"))
            .expect("cleans")
            .bytes;
        // Put a comment where a progressive file has its further tables and scans: before EOI.
        let eoi = original.len() - 2;
        let comment = jpeg_segment(markers::COM, b"Jan Klokkenluider");
        let input = [&original[..eoi], &comment, &original[eoi..]].concat();
        let cleaned = clean(Kind::Jpeg, &input).expect("cleans");
        assert_eq!(cleaned.removed, [Removed::Comments]);
        assert_eq!(cleaned.bytes, original);
    }

    #[test]
    fn exif_gps_pointer_is_found_in_either_byte_order() {
        for big_endian in [true, false] {
            assert!(exif_has_gps(&tiff(big_endian, true)));
            assert!(!exif_has_gps(&tiff(big_endian, false)));
            assert!(exif_has_gps(&[EXIF_PREFIX, &tiff(big_endian, true)].concat()));
        }
        let gps = tiff(false, true);
        for cut in 0..gps.len() - 6 {
            // Cut before the end of the GPS entry: nothing to find, and no panic.
            let _ = exif_has_gps(&gps[..cut]);
        }
        assert!(!exif_has_gps(&gps[..20]));
        assert!(!exif_has_gps(b"MM\0\x2a\xff\xff\xff\xff"));
    }

    // --- PNG and WebP -----------------------------------------------------------------------

    #[test]
    fn png_exif_with_gps_reports_the_location() {
        let mut png = Png::from_bytes(Bytes::from(fixture("screenshot-author.png"))).expect("parses");
        png.chunks_mut()
            .insert(1, PngChunk::new(*b"eXIf", Bytes::from(tiff(false, true))));
        png.chunks_mut().insert(
            1,
            PngChunk::new(*b"tIME", Bytes::from_static(b"\x07\xea\x0b\x1e\x08\x17\x1a")),
        );
        let xmp = [
            b"XML:com.adobe.xmp\0\0\0\0\0".as_slice(),
            b"<x:xmpmeta>Jan Klokkenluider</x:xmpmeta>",
        ]
        .concat();
        png.chunks_mut().insert(1, PngChunk::new(*b"iTXt", Bytes::from(xmp)));
        let input = png.encoder().bytes().to_vec();

        let cleaned = clean(Kind::Png, &input).expect("cleans");
        assert_eq!(
            cleaned.removed,
            [Removed::Location, Removed::CameraData, Removed::Xmp, Removed::Comments]
        );
        assert_no_name(&cleaned.bytes, "cleaned PNG");
        let again = clean(Kind::Png, &cleaned.bytes).expect("cleans");
        assert!(again.removed.is_empty());
    }

    /// A 1x1 lossless WebP in the extended format, with EXIF (naming the reporter, with GPS)
    /// and XMP chunks announced in its VP8X flags.
    fn webp_with_metadata() -> Vec<u8> {
        // VP8X: flags (EXIF | XMP), three reserved bytes, canvas width-1 and height-1 (24 bit).
        let vp8x = [WEBP_EXIF_FLAG | WEBP_XMP_FLAG, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let vp8l = b"\x2f\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07";
        let chunks = vec![
            RiffChunk::new(*b"VP8X", RiffContent::Data(Bytes::copy_from_slice(&vp8x))),
            RiffChunk::new(*b"VP8L", RiffContent::Data(Bytes::from_static(vp8l))),
            RiffChunk::new(*b"EXIF", RiffContent::Data(Bytes::from(tiff(true, true)))),
            RiffChunk::new(
                *b"XMP ",
                RiffContent::Data(Bytes::from_static(b"<x:xmpmeta>Jan Klokkenluider</x:xmpmeta>")),
            ),
        ];
        let riff = RiffChunk::new(
            *b"RIFF",
            RiffContent::List {
                kind: Some(*b"WEBP"),
                subchunks: chunks,
            },
        );
        riff.encoder().bytes().to_vec()
    }

    #[test]
    fn webp_loses_exif_and_xmp_and_its_flags_follow() {
        let input = webp_with_metadata();
        assert_eq!(sniff(&input, "x"), Kind::Webp);
        let cleaned = clean(Kind::Webp, &input).expect("cleans");
        assert_eq!(cleaned.removed, [Removed::Location, Removed::CameraData, Removed::Xmp]);
        assert_no_name(&cleaned.bytes, "cleaned WebP");

        let webp = WebP::from_bytes(Bytes::from(cleaned.bytes.clone())).expect("cleaned WebP parses");
        let ids: Vec<[u8; 4]> = webp.chunks().iter().map(RiffChunk::id).collect();
        assert_eq!(ids, [*b"VP8X", *b"VP8L"]);
        let flags = webp
            .chunk_by_id(*b"VP8X")
            .and_then(|chunk| chunk.content().data())
            .expect("VP8X data")[0];
        assert_eq!(flags & (WEBP_EXIF_FLAG | WEBP_XMP_FLAG), 0);
        let before = WebP::from_bytes(Bytes::from(input)).expect("parses");
        assert_eq!(webp.chunk_by_id(*b"VP8L"), before.chunk_by_id(*b"VP8L"));

        let again = clean(Kind::Webp, &cleaned.bytes).expect("cleans");
        assert!(again.removed.is_empty());
        assert_eq!(again.bytes, cleaned.bytes);
    }

    // --- PDF details ------------------------------------------------------------------------

    #[test]
    fn pdf_loses_xmp_and_piece_info_everywhere() {
        let mut doc = Document::load_mem(&fixture("letter-author.pdf")).expect("fixture loads");
        let xmp = Stream::new(
            dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
            b"<x:xmpmeta><dc:creator>Jan Klokkenluider</dc:creator></x:xmpmeta>".to_vec(),
        );
        let xmp_id = doc.add_object(xmp);
        doc.catalog_mut()
            .expect("catalog")
            .set("Metadata", Object::Reference(xmp_id));
        let page = doc.page_iter().next().expect("a page");
        let piece =
            dictionary! { "Illustrator" => dictionary! { "Private" => Object::string_literal("Jan Klokkenluider") } };
        doc.get_dictionary_mut(page).expect("page").set("PieceInfo", piece);
        let mut input = Vec::new();
        doc.save_to(&mut input).expect("saves");

        let cleaned = clean(Kind::Pdf, &input).expect("cleans");
        assert_eq!(cleaned.removed, [Removed::Xmp, Removed::DocumentInfo]);
        assert_no_name(&cleaned.bytes, "cleaned PDF");
        let after = Document::load_mem(&cleaned.bytes).expect("cleaned PDF loads");
        assert!(pdf_findings(&after).is_empty());
        assert!(
            !after.objects.contains_key(&xmp_id),
            "the XMP stream is gone, not just unlinked"
        );
    }

    /// The offset that the last `startxref` of a PDF names.
    fn startxref(pdf: &[u8]) -> usize {
        let at = pdf
            .windows(9)
            .rposition(|window| window == b"startxref")
            .expect("startxref");
        let digits: String = pdf[at + 9..]
            .iter()
            .map(|&b| b as char)
            .skip_while(char::is_ascii_whitespace)
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().expect("offset")
    }

    #[test]
    fn pdf_author_in_an_earlier_revision_is_found_and_dropped() {
        // An incremental update that drops `/Info` from the trailer and frees its object, the
        // way an editor's "remove author" may save it: the old object is still in the file.
        let mut pdf = fixture("letter-author.pdf");
        let prev = startxref(&pdf);
        let catalog_at = pdf.len();
        pdf.extend_from_slice(b"4 0 obj\n<< /PageMode /UseNone /Pages 6 0 R /Type /Catalog >>\nendobj\n");
        let xref_at = pdf.len();
        pdf.extend_from_slice(
            format!(
                "xref\n0 1\n0000000005 65535 f \n4 2\n{catalog_at:010} 00000 n \n0000000000 00001 f \n\
                 trailer\n<< /Size 8 /Root 4 0 R /Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n"
            )
            .as_bytes(),
        );
        let doc = Document::load_mem(&pdf).expect("updated PDF loads");
        assert_eq!(doc.revision_count(), 2);
        assert!(pdf_findings(&doc).is_empty(), "the last revision itself is clean");

        let cleaned = clean(Kind::Pdf, &pdf).expect("cleans");
        assert_eq!(cleaned.removed, [Removed::DocumentInfo]);
        assert_no_name(&cleaned.bytes, "cleaned PDF");
        let after = Document::load_mem(&cleaned.bytes).expect("cleaned PDF loads");
        assert_eq!(after.revision_count(), 1);
        assert_eq!(after.get_pages().len(), 1);
    }

    // --- zip details ------------------------------------------------------------------------

    #[test]
    fn zip_comment_is_dropped() {
        let docx = fixture("memo-author.docx");
        let mut archive = ZipArchive::new(Cursor::new(&docx[..])).expect("opens");
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for index in 0..archive.len() {
            writer
                .raw_copy_file(archive.by_index_raw(index).expect("entry"))
                .expect("copies");
        }
        writer.set_comment("Jan Klokkenluider").expect("comment");
        let input = writer.finish().expect("finishes").into_inner();

        let cleaned = clean(Kind::Zip, &input).expect("cleans");
        assert_eq!(
            cleaned.removed,
            [Removed::CameraData, Removed::Comments, Removed::DocumentProperties]
        );
        assert_no_name(&cleaned.bytes, "cleaned docx");
        assert_eq!(unpack(&cleaned.bytes).len(), archive.len());
    }

    #[test]
    fn odf_version_is_read_conservatively() {
        assert_eq!(
            odf_version(b"<office:document-meta office:version=\"1.3\">"),
            Some(&b"1.3"[..])
        );
        assert_eq!(
            odf_version(b"<office:document-meta office:version='1.2'>"),
            Some(&b"1.2"[..])
        );
        assert_eq!(
            odf_version(b"<office:document-meta office:version=\"1.2\"/><!-- Jan -->\""),
            Some(&b"1.2"[..])
        );
        assert_eq!(
            odf_version(b"<office:document-meta office:version=\"Jan Klokkenluider\">"),
            None
        );
        assert_eq!(odf_version(b"<office:document-meta office:version=\"1.2"), None);
        assert_eq!(odf_version(b"<office:document-meta>"), None);
        let meta = empty_odf_meta(b"<office:document-meta>");
        assert!(!contains(&meta, b"office:version"));
    }

    /// A few KiB that inflate into millions of objects (found in review): refused quickly,
    /// never parsed whole.
    #[test]
    fn pdf_decompression_bomb_is_refused() {
        use std::io::Write as _;
        let mut inner = b"5 0 [".to_vec();
        inner.extend(std::iter::repeat_n(*b"0 ", 3_000_000).flatten());
        inner.extend_from_slice(b"]");
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&inner).unwrap();
        let comp = z.finish().unwrap();
        let mut stream = format!(
            "4 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            comp.len()
        )
        .into_bytes();
        stream.extend_from_slice(&comp);
        stream.extend_from_slice(b"\nendstream\nendobj\n");
        let objects: Vec<Vec<u8>> = vec![
            b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Foo 5 0 R >>\nendobj\n".to_vec(),
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n".to_vec(),
            b"3 0 obj\n<< /Author (Klokkenluider) >>\nendobj\n".to_vec(),
            stream,
        ];
        let mut pdf = b"%PDF-1.5\n".to_vec();
        let mut offsets = vec![];
        for o in &objects {
            offsets.push(pdf.len());
            pdf.extend_from_slice(o);
        }
        let xref = pdf.len();
        pdf.extend_from_slice(b"xref\n0 5\n0000000000 65535 f \n");
        for o in offsets {
            pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        pdf.extend_from_slice(
            format!("trailer\n<< /Size 6 /Root 1 0 R /Info 3 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        assert!(pdf.len() < 64 * 1024, "a small file");
        assert!(matches!(clean(Kind::Pdf, &pdf), Err(CleanError::Unreadable(Kind::Pdf))));
    }

    /// A photo pasted into a Word file keeps its GPS position unless the picture is cleaned.
    #[test]
    fn pictures_inside_a_document_are_cleaned() {
        let photo = fixture("photo-gps-author.jpg");
        let mut source = ZipArchive::new(Cursor::new(fixture("memo-author.docx"))).unwrap();
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for index in 0..source.len() {
            writer.raw_copy_file(source.by_index_raw(index).unwrap()).unwrap();
        }
        writer
            .start_file("word/media/image1.jpeg", SimpleFileOptions::default())
            .unwrap();
        writer.write_all(&photo).unwrap();
        let docx = writer.finish().unwrap().into_inner();

        let cleaned = clean(Kind::Zip, &docx).unwrap();
        assert!(cleaned.removed.contains(&Removed::Location), "{:?}", cleaned.removed);
        assert!(cleaned.removed.contains(&Removed::DocumentProperties));
        let mut archive = ZipArchive::new(Cursor::new(&cleaned.bytes)).unwrap();
        let mut picture = Vec::new();
        archive
            .by_name("word/media/image1.jpeg")
            .unwrap()
            .read_to_end(&mut picture)
            .unwrap();
        assert!(!contains(&picture, b"Klokkenluider"));
        let scan = |b: &[u8]| b.windows(2).position(|w| w == [0xFF, 0xDA]).map(|at| b[at..].to_vec());
        assert_eq!(scan(&picture), scan(&photo), "the picture itself is unchanged");
        assert_eq!(
            clean(Kind::Zip, &cleaned.bytes).unwrap().removed,
            vec![],
            "cleaning twice changes nothing"
        );
    }
}
