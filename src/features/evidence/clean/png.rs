//! PNG: removes eXIf chunks (GPS included), text chunks (XMP, IPTC and Exif profiles stored as
//! text, comments, author), the modification time, and whatever is appended after IEND.

use std::collections::BTreeSet;

use img_parts::png::Png;
use img_parts::Bytes;

use super::image::{is_padding, note_appended, note_exif};
use super::{CleanError, Cleaned, Kind, Removed};

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

pub(super) fn clean_png(input: &[u8]) -> Result<Cleaned, CleanError> {
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

#[cfg(test)]
mod tests {
    use img_parts::png::PngChunk;

    use super::super::clean;
    use super::super::test_support::{assert_no_name, clean_fixture, fixture, tiff};
    use super::*;

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
}
