//! ODF (OpenDocument text, spreadsheets, presentations, drawings): recognising a package that
//! can be cleaned, and the empty `meta.xml` (creator, dates, editing cycles) that replaces the
//! original.

use super::contains;
use super::package::{read_entry, Archive, PART_READ_LIMIT};

/// The part that holds an ODF document's properties.
pub(super) const META_PART: &str = "meta.xml";

/// Whether the archive is an OpenDocument package: its `mimetype` entry says so.
pub(super) fn is_odf(archive: &mut Archive<'_>, names: &[String]) -> bool {
    names
        .iter()
        .position(|name| name == "mimetype")
        .and_then(|index| read_entry(archive, index, 128))
        .is_some_and(|mimetype| mimetype.starts_with(b"application/vnd.oasis.opendocument"))
}

/// Whether the manifest lists encrypted parts (a password-protected document).
pub(super) fn is_encrypted(archive: &mut Archive<'_>, names: &[String]) -> bool {
    names
        .iter()
        .position(|name| name == "META-INF/manifest.xml")
        .and_then(|index| read_entry(archive, index, PART_READ_LIMIT))
        .is_some_and(|manifest| contains(&manifest, b"encryption-data"))
}

/// An ODF `meta.xml` with nothing in `office:meta`, keeping the original's `office:version`,
/// which tells readers which schema the rest of the document follows.
pub(super) fn empty_odf_meta(original: &[u8]) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use zip::{CompressionMethod, ZipArchive};

    use super::super::test_support::{check_package, clean_fixture};
    use super::super::Removed;
    use super::*;

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
}
