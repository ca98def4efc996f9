//! Test helpers shared by the format tests: the fixture files, checks that the reporter's name
//! is gone, unpacking and checking an OOXML or ODF package, and hand-built Exif blocks.

use std::io::{Cursor, Read};

use zip::ZipArchive;

use super::image::{EXIF_PREFIX, GPS_IFD_POINTER};
use super::{clean, contains, sniff, Cleaned, Kind, Removed};

/// Every fixture names this person; it must be gone after cleaning.
const NAME: &[u8] = b"Klokkenluider";

pub(super) fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metadata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// Every fixture, with the kind it must be sniffed as.
pub(super) const FIXTURES: [(&str, Kind); 6] = [
    ("photo-gps-author.jpg", Kind::Jpeg),
    ("screenshot-author.png", Kind::Png),
    ("letter-author.pdf", Kind::Pdf),
    ("memo-author.docx", Kind::Zip),
    ("budget-author.xlsx", Kind::Zip),
    ("minutes-author.odt", Kind::Zip),
];

pub(super) fn clean_fixture(name: &str) -> (Vec<u8>, Cleaned) {
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

pub(super) fn assert_no_name(bytes: &[u8], what: &str) {
    assert!(!contains(bytes, NAME), "{what} still names the reporter");
}

/// Every entry of a zip, decompressed, in archive order; panics if one cannot be read.
pub(super) fn unpack(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
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

/// A TIFF structure as found in an Exif block: IFD0 with an Artist naming the reporter and,
/// if asked, a pointer to an (empty) GPS IFD.
pub(super) fn tiff(big_endian: bool, gps: bool) -> Vec<u8> {
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

pub(super) fn exif_block(gps: bool) -> Vec<u8> {
    [EXIF_PREFIX, &tiff(true, gps)].concat()
}

/// Checks a cleaned OOXML or ODF file part by part against the original.
pub(super) fn check_package(name: &str, replaced: &[(&str, &[u8])], removed: &[Removed]) {
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
