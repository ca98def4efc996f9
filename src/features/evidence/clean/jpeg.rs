//! JPEG: removes Exif (GPS included), XMP, IPTC, maker and other application segments and
//! comments, before the first scan and between scans, and whatever is appended after the image;
//! the compressed pixels are copied byte for byte.

use std::collections::BTreeSet;
use std::ops::Range;

use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::Bytes;

use super::image::{is_padding, note_appended, note_exif, EXIF_PREFIX, XMP_EXTENSION_NAMESPACE, XMP_NAMESPACE};
use super::{CleanError, Cleaned, Kind, Removed};

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

pub(super) fn clean_jpeg(input: &[u8]) -> Result<Cleaned, CleanError> {
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

#[cfg(test)]
mod tests {
    use super::super::clean;
    use super::super::image::PHOTOSHOP_PREFIX;
    use super::super::test_support::{assert_no_name, clean_fixture, exif_block, fixture};
    use super::*;

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
    fn a_jpeg_cut_inside_its_pixels_is_still_cleaned() {
        let jpeg = fixture("photo-gps-author.jpg");
        let cut = &jpeg[..jpeg.len() - 1000];
        let cleaned = clean(Kind::Jpeg, cut).expect("headers are intact");
        assert_eq!(cleaned.removed, [Removed::Location, Removed::CameraData]);
        assert_no_name(&cleaned.bytes, "cleaned cut JPEG");
        assert_eq!(jpeg_scan_data(&cleaned.bytes), jpeg_scan_data(cut));
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
}
