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
//!
//! Each format has a file of its own; this one holds what they share: the kinds and findings,
//! telling a file's format from its first bytes, and the panic guard around the cleaners.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

mod image;
mod jpeg;
mod odf;
mod ooxml;
mod package;
mod pdf;
mod png;
#[cfg(test)]
mod test_support;
mod webp;

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
        Kind::Jpeg => jpeg::clean_jpeg(input),
        Kind::Png => png::clean_png(input),
        Kind::Webp => webp::clean_webp(input),
        Kind::Pdf => pdf::clean_pdf(input),
        Kind::Zip => package::clean_zip(input),
        Kind::Heic | Kind::Text | Kind::Other => Err(CleanError::Unsupported),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::test_support::{clean_fixture, fixture, FIXTURES};
    use super::*;

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
}
