//! PDF: removes the document information dictionary (author, title, creator, producer, dates),
//! XMP metadata streams and `/PieceInfo` application data, from the current revision and, by
//! rewriting the file, from earlier ones; loading is bounded against decompression bombs.

use std::collections::{BTreeSet, HashSet};

use lopdf::{Document, Object, ObjectId};

use super::{CleanError, Cleaned, Kind, Removed};

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

pub(super) fn clean_pdf(input: &[u8]) -> Result<Cleaned, CleanError> {
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

#[cfg(test)]
mod tests {
    use lopdf::{dictionary, Stream};

    use super::super::test_support::{assert_no_name, clean_fixture, fixture};
    use super::super::{clean, sniff};
    use super::*;

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

    #[test]
    fn garbage_named_pdf_is_unreadable() {
        let garbage = b"this is not a PDF at all, just some words\n".repeat(20);
        let kind = sniff(&garbage, "brief.pdf");
        assert_eq!(kind, Kind::Pdf);
        assert!(matches!(clean(kind, &garbage), Err(CleanError::Unreadable(Kind::Pdf))));
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
}
