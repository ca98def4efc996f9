//! WebP: removes EXIF (GPS included) and XMP chunks, clears the VP8X flags that announced them,
//! and drops whatever is appended after the RIFF container.

use std::collections::BTreeSet;

use img_parts::riff::RiffContent;
use img_parts::webp::WebP;
use img_parts::Bytes;

use super::image::{is_padding, note_appended, note_exif};
use super::{CleanError, Cleaned, Kind, Removed};

/// VP8X flag bits that announce an EXIF and an XMP chunk.
const WEBP_EXIF_FLAG: u8 = 0b0000_1000;
const WEBP_XMP_FLAG: u8 = 0b0000_0100;

pub(super) fn clean_webp(input: &[u8]) -> Result<Cleaned, CleanError> {
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

#[cfg(test)]
mod tests {
    use img_parts::riff::RiffChunk;

    use super::super::test_support::{assert_no_name, tiff};
    use super::super::{clean, sniff};
    use super::*;

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
}
