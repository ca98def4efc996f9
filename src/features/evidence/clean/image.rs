//! Shared by the JPEG, PNG and WebP cleaners: the signatures of Exif, XMP and Photoshop (IPTC)
//! blocks, whether an Exif block holds a GPS position, and what data appended after the end of
//! an image holds.

use std::collections::BTreeSet;

use super::{contains, Removed};

pub(super) const EXIF_PREFIX: &[u8] = b"Exif\0\0";
pub(super) const XMP_NAMESPACE: &[u8] = b"http://ns.adobe.com/xap/1.0/";
pub(super) const XMP_EXTENSION_NAMESPACE: &[u8] = b"http://ns.adobe.com/xmp/extension/";
pub(super) const PHOTOSHOP_PREFIX: &[u8] = b"Photoshop 3.0\0";
/// TIFF tag in IFD0 that points to the GPS IFD.
pub(super) const GPS_IFD_POINTER: u16 = 0x8825;

/// Records what an Exif block holds: always camera data, and a location when IFD0 points to a
/// GPS IFD. Accepts the TIFF structure with or without the `Exif\0\0` prefix, because writers
/// disagree about it in PNG and WebP.
pub(super) fn note_exif(exif: &[u8], found: &mut BTreeSet<Removed>) {
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
pub(super) fn is_padding(bytes: &[u8]) -> bool {
    bytes.iter().all(|&byte| byte == 0x00 || byte == 0xFF)
}

/// Records what data appended after the end of an image holds. Cameras and phones put extra
/// images there (multi-picture previews, depth and HDR gain maps), each with its own Exif and
/// often the same GPS position, so the whole tail is dropped and reported as camera data; the
/// blocks we recognise inside it are reported as well.
pub(super) fn note_appended(tail: &[u8], found: &mut BTreeSet<Removed>) {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::tiff;
    use super::*;

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
}
