//! Zip packages (OOXML and ODF): walks the archive, replaces the property parts, cleans the
//! pictures inside like uploaded images, drops the archive comment, and copies every other entry
//! as it was, compressed bytes and all.

use std::collections::BTreeSet;
use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::{clean_uncaught, odf, ooxml, sniff, CleanError, Cleaned, Kind, Removed};

/// The property parts are small; this only guards against a zip bomb posing as one.
pub(super) const PART_READ_LIMIT: u64 = 8 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Package {
    Ooxml,
    Odf,
}

pub(super) type Archive<'a> = ZipArchive<Cursor<&'a [u8]>>;

/// The decompressed content of entry `index`, at most `limit` bytes; `None` when it cannot be
/// read (encrypted, damaged, unsupported compression).
pub(super) fn read_entry(archive: &mut Archive<'_>, index: usize, limit: u64) -> Option<Vec<u8>> {
    let entry = archive.by_index(index).ok()?;
    let mut content = Vec::new();
    entry.take(limit).read_to_end(&mut content).ok()?;
    Some(content)
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

pub(super) fn clean_zip(input: &[u8]) -> Result<Cleaned, CleanError> {
    let unreadable = |_| CleanError::Unreadable(Kind::Zip);
    let mut archive = ZipArchive::new(Cursor::new(input)).map_err(unreadable)?;
    // A name that does not decode cannot be one of the parts we look for; it is copied as is.
    let names: Vec<String> = (0..archive.len())
        .map(|index| match archive.name_for_index(index) {
            Some(Ok(name)) => name.into_owned(),
            _ => String::new(),
        })
        .collect();

    let package = if ooxml::is_ooxml(&names) {
        Package::Ooxml
    } else {
        if !odf::is_odf(&mut archive, &names) {
            return Err(CleanError::Unsupported);
        }
        // In a password-protected ODF file the parts are encrypted and listed so in the
        // manifest; a plain meta.xml in their place would make the document fail to open.
        if odf::is_encrypted(&mut archive, &names) {
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
            Package::Ooxml => ooxml::is_property_part(name),
            Package::Odf => name == odf::META_PART,
        };
        if !is_target {
            continue;
        }
        // A part that cannot be read is replaced all the same: we cannot tell it is harmless.
        let original = read_entry(&mut archive, index, PART_READ_LIMIT);
        let replacement = match package {
            Package::Odf => odf::empty_odf_meta(original.as_deref().unwrap_or_default()),
            Package::Ooxml => ooxml::empty_properties(name),
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
    use super::super::test_support::{assert_no_name, fixture, unpack};
    use super::super::{clean, contains};
    use super::*;

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
