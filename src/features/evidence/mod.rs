//! Evidence files: metadata removal, sealed chunked storage, the upload reader, what pages
//! show about a file, and streamed downloads with headers that never let a file render.

pub mod clean;
pub mod sealed;
pub mod upload;

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType, ExtendedValue};
use actix_web::HttpResponse;
use futures_util::stream;

use crate::crypto::envelope::Role;
use crate::crypto::ReportKey;
use crate::i18n::Lang;
use crate::ids;
use crate::storage::{FileRow, Store};
use clean::{Kind, Removed};
use sealed::{body_context, FileMeta, FileOpener, Warning, SEGMENT_CHUNKS};
use upload::Problem;

/// Words about files, in Dutch and English.
pub struct FileTexts {
    pub label: &'static str,
    pub hint: &'static str,
    pub original_label: &'static str,
    pub original_hint: &'static str,
    pub staff_label: &'static str,
    pub staff_hint: &'static str,
    pub staff_original_label: &'static str,
    pub staff_original_hint: &'static str,
    pub choose_again: &'static str,
    pub switch_dropped: &'static str,
    pub kept_original_other: &'static str,
    pub download_warning: &'static str,
    pub thread_err_summary: &'static str,
    pub residual: &'static str,
    pub damaged: &'static str,
    pub session_files: &'static str,
    pub cleaning_off: &'static str,
    pub cleaning_off_hint: &'static str,
    pub heading: &'static str,
    pub download: &'static str,
    pub removed: &'static str,
    pub nothing_found: &'static str,
    pub no_metadata: &'static str,
    pub unreadable: &'static str,
    pub cannot_clean: &'static str,
    pub too_large_to_clean: &'static str,
    pub kept_original: &'static str,
    pub store_failed: &'static str,
    pub broken: &'static str,
    pub bad_name: &'static str,
}

pub static NL: FileTexts = FileTexts {
    label: "Bewijsstukken",
    hint: "Foto's (JPEG, PNG, WebP), PDF's en Word-, Excel-, PowerPoint- en OpenDocument-bestanden maken we schoon: verborgen gegevens die naar u kunnen wijzen, zoals de plaats waar een foto is gemaakt, de camera of de auteur, halen we eruit voordat het bestand versleuteld wordt opgeslagen. Andere bestanden (zoals HEIC-foto's van een iPhone, video, e-mails of oude .doc-bestanden) slaan we op zoals ze zijn, en die kunnen naar u wijzen: maak er zo nodig eerst een schermafbeelding of PDF van. Ook de bestandsnaam gaat mee; geef een bestand zo nodig een andere naam.",
    original_label: "Bestanden die u onaangeroerd wilt meesturen",
    original_hint: "Alleen voor als de verborgen gegevens zelf het bewijs zijn, bijvoorbeeld de datum en plaats waar een foto is gemaakt. Deze bestanden slaan we op precies zoals ze zijn: de verborgen gegevens kunnen naar u wijzen.",
    staff_label: "Bijlagen",
    staff_hint: "Verborgen gegevens (zoals auteur, organisatie en locatie) halen we uit foto's, PDF's en Office-bestanden voordat ze versleuteld worden opgeslagen. De melder kan de bijlagen downloaden.",
    staff_original_label: "Bijlagen onaangeroerd meesturen",
    staff_original_hint: "Alleen als de verborgen gegevens ertoe doen: ze kunnen u of anderen herkenbaar maken.",
    choose_again: "Wat u typte staat er nog, maar bestanden bewaren we niet als het formulier niet verstuurd kon worden. Kies opnieuw:",
    switch_dropped: "Bestanden gaan niet mee als u van taal wisselt. Kies opnieuw:",
    kept_original_other: "Op verzoek van de afzender onaangeroerd opgeslagen: eventuele verborgen gegevens zitten er nog in.",
    download_warning: "Een bestand dat u downloadt, blijft op dit apparaat staan. Doe dat niet op een apparaat van uw werk.",
    thread_err_summary: "Uw bericht is nog niet verstuurd. Wat u typte staat er nog; pas het volgende aan:",
    residual: "Let op: opmerkingen en bijgehouden wijzigingen in het document zelf (en afbeeldingen in een PDF) halen we er niet uit; die kunnen nog naar u wijzen.",
    damaged: "Dit bestand kon niet worden geopend.",
    session_files: "Uw bestanden zijn niet meegestuurd:",
    cleaning_off: "Dit meldpunt haalt geen verborgen gegevens uit bestanden; dit bestand is opgeslagen zoals het was en kan naar u wijzen.",
    cleaning_off_hint: "Let op: dit meldpunt haalt geen verborgen gegevens (zoals de plaats waar een foto is gemaakt of de auteur van een document) uit bestanden. Bestanden worden opgeslagen zoals ze zijn en kunnen naar u wijzen. Ook de bestandsnaam gaat mee.",
    heading: "Bestanden",
    download: "downloaden",
    removed: "Verwijderde verborgen gegevens:",
    nothing_found: "Geen verborgen gegevens gevonden.",
    no_metadata: "Dit soort bestand heeft geen verborgen gegevens.",
    unreadable: "Dit bestand kon niet worden gelezen en is onveranderd opgeslagen. Het kan verborgen gegevens bevatten die naar u wijzen.",
    cannot_clean: "Dit soort bestand kunnen we niet opschonen. Het kan verborgen gegevens bevatten die naar u wijzen, zoals de auteur of het apparaat.",
    too_large_to_clean: "Dit bestand is te groot om op te schonen en is onveranderd opgeslagen. Het kan verborgen gegevens bevatten die naar u wijzen.",
    kept_original: "Op uw verzoek onaangeroerd opgeslagen: eventuele verborgen gegevens zitten er nog in.",
    store_failed: "Uw bestanden konden niet worden opgeslagen. Er is nog niets verstuurd. Probeer het later opnieuw.",
    broken: "Het versturen is onderbroken. Er is nog niets verstuurd. Probeer het opnieuw.",
    bad_name: "De naam van een bestand bevat een teken dat niet kan worden verstuurd (een stuurteken). Er is nog niets verstuurd en uw tekst staat er nog. Geef het bestand een andere naam en kies het opnieuw.",
};

pub static EN: FileTexts = FileTexts {
    label: "Evidence files",
    hint: "Photos (JPEG, PNG, WebP), PDFs and Word, Excel, PowerPoint and OpenDocument files are cleaned: hidden data that could point to you, such as where a photo was taken, the camera or the author, is removed before the file is stored encrypted. Other files (such as HEIC photos from an iPhone, video, e-mails or old .doc files) are stored as they are, and they may point to you: if need be, make a screenshot or PDF of them first. The file name is sent too; rename a file if need be.",
    original_label: "Files you want to send untouched",
    original_hint: "Only for when the hidden data is itself the evidence, for example the date and place a photo was taken. These files are stored exactly as they are: their hidden data may point to you.",
    staff_label: "Attachments",
    staff_hint: "Hidden data (such as author, organisation and location) is removed from photos, PDFs and Office files before they are stored encrypted. The reporter can download the attachments.",
    staff_original_label: "Send attachments untouched",
    staff_original_hint: "Only when the hidden data matters: it can identify you or others.",
    choose_again: "What you typed is still here, but files are not kept when the form could not be sent. Please choose again:",
    switch_dropped: "Files do not come along when you switch language. Please choose again:",
    kept_original_other: "Stored untouched at the sender's request: any hidden data is still in it.",
    download_warning: "A file you download stays on this device. Do not do that on a device from work.",
    thread_err_summary: "Your message has not been sent yet. What you typed is still here; please change the following:",
    residual: "Note: comments and tracked changes inside the document itself (and pictures inside a PDF) are not removed; they may still point to you.",
    damaged: "This file could not be opened.",
    session_files: "Your files were not sent:",
    cleaning_off: "This reporting point does not remove hidden data from files; this file was stored as it was and may point to you.",
    cleaning_off_hint: "Note: this reporting point does not remove hidden data (such as where a photo was taken or a document's author) from files. Files are stored as they are and may point to you. The file name is sent too.",
    heading: "Files",
    download: "download",
    removed: "Hidden data removed:",
    nothing_found: "No hidden data found.",
    no_metadata: "This kind of file has no hidden data.",
    unreadable: "This file could not be read and was stored unchanged. It may contain hidden data that points to you.",
    cannot_clean: "We cannot clean this kind of file. It may contain hidden data that points to you, such as the author or the device.",
    too_large_to_clean: "This file is too large to clean and was stored unchanged. It may contain hidden data that points to you.",
    kept_original: "Stored untouched, as you asked: any hidden data is still in it.",
    store_failed: "Your files could not be stored. Nothing has been sent yet. Please try again later.",
    broken: "Sending was interrupted. Nothing has been sent yet. Please try again.",
    bad_name: "The name of a file contains a character that cannot be sent (a control character). Nothing has been sent yet and your text is still here. Rename the file and choose it again.",
};

pub fn texts(lang: Lang) -> &'static FileTexts {
    match lang {
        Lang::Nl => &NL,
        Lang::En => &EN,
    }
}

fn removed_label(r: Removed, lang: Lang) -> &'static str {
    match (r, lang) {
        (Removed::Location, Lang::Nl) => "locatie (GPS-positie)",
        (Removed::Location, Lang::En) => "location (GPS position)",
        (Removed::CameraData, Lang::Nl) => "EXIF-gegevens (zoals maker, camera, serienummer en datum)",
        (Removed::CameraData, Lang::En) => "EXIF data (such as author, camera, serial number and date)",
        (Removed::Xmp, Lang::Nl) => "XMP-gegevens (o.a. maker en bewerkingsgeschiedenis)",
        (Removed::Xmp, Lang::En) => "XMP data (such as creator and editing history)",
        (Removed::Iptc, Lang::Nl) => "IPTC-gegevens (o.a. maker en trefwoorden)",
        (Removed::Iptc, Lang::En) => "IPTC data (such as creator and keywords)",
        (Removed::Comments, Lang::Nl) => "commentaar- en tekstvelden (o.a. auteur)",
        (Removed::Comments, Lang::En) => "comment and text fields (such as author)",
        (Removed::DocumentInfo, Lang::Nl) => "documentgegevens (auteur, titel, onderwerp, programma, datums)",
        (Removed::DocumentInfo, Lang::En) => "document information (author, title, subject, program, dates)",
        (Removed::DocumentProperties, Lang::Nl) => {
            "documenteigenschappen (auteur, laatst bewerkt door, organisatie, revisie)"
        }
        (Removed::DocumentProperties, Lang::En) => "document properties (author, last modified by, company, revision)",
    }
}

/// The message for a refused upload, in the user's language.
pub fn problem_text(p: &Problem, state_limits: &crate::settings::LimitSettings, lang: Lang) -> String {
    let ft = texts(lang);
    match (p, lang) {
        (Problem::FileTooLarge(name), Lang::Nl) => format!(
            "Het bestand ‘{name}’ is groter dan {} MB. Er is nog niets verstuurd. Verklein het bestand of stuur het in delen.",
            state_limits.file_mib
        ),
        (Problem::FileTooLarge(name), Lang::En) => format!(
            "The file ‘{name}’ is larger than {} MB. Nothing has been sent yet. Make it smaller or send it in parts.",
            state_limits.file_mib
        ),
        (Problem::TooManyFiles, Lang::Nl) => format!(
            "U kunt hoogstens {} bestanden tegelijk meesturen. Er is nog niets verstuurd. Stuur de rest in een volgend bericht.",
            state_limits.files_per_message
        ),
        (Problem::TooManyFiles, Lang::En) => format!(
            "You can send at most {} files at once. Nothing has been sent yet. Send the rest in a next message.",
            state_limits.files_per_message
        ),
        (Problem::ReportFull, Lang::Nl) => format!(
            "Bij één melding passen samen hoogstens {} MB aan bestanden. Er is nog niets verstuurd.",
            state_limits.report_mib
        ),
        (Problem::ReportFull, Lang::En) => format!(
            "One report can hold at most {} MB of files in all. Nothing has been sent yet.",
            state_limits.report_mib
        ),
        (Problem::Empty(name), Lang::Nl) => {
            format!("Het bestand ‘{name}’ is leeg (0 bytes). Kies het bestand opnieuw of laat het weg. Er is nog niets verstuurd.")
        }
        (Problem::Empty(name), Lang::En) => {
            format!("The file ‘{name}’ is empty (0 bytes). Choose it again or leave it out. Nothing has been sent yet.")
        }
        (Problem::TextTooLarge, Lang::Nl) => "Het formulier is te groot. Er is nog niets verstuurd.".to_string(),
        (Problem::TextTooLarge, Lang::En) => "The form is too large. Nothing has been sent yet.".to_string(),
        (Problem::BudgetSpent, Lang::Nl) => "Het meldpunt neemt het komende uur geen bestanden meer aan: er zijn er erg veel binnengekomen. \
             Er is nog niets verstuurd en uw tekst staat er nog. U kunt uw melding nu zonder bestand versturen en het bestand later \
             toevoegen met uw meldcode, of het over een uur opnieuw proberen.".to_string(),
        (Problem::BudgetSpent, Lang::En) => "The reporting point accepts no more files this hour: very many have come in. \
             Nothing has been sent yet and your text is still here. You can send your report now without the file and add it \
             later with your meldcode, or try again in an hour.".to_string(),
        (Problem::Busy, Lang::Nl) => "Het is op dit moment erg druk bij het meldpunt: uw bestand kon niet worden ontvangen. \
             Er is nog niets verstuurd en uw tekst staat er nog; kies het bestand opnieuw en probeer het over een minuut opnieuw.".to_string(),
        (Problem::Busy, Lang::En) => "The reporting point is very busy right now: your file could not be received. \
             Nothing has been sent yet and your text is still here; choose the file again and try again in a minute.".to_string(),
        (Problem::Broken, _) => ft.broken.to_string(),
        (Problem::BadFileName, _) => ft.bad_name.to_string(),
        (Problem::Store, _) => ft.store_failed.to_string(),
    }
}

/// The file fields of a form, with what to show above them.
pub struct FilesField {
    pub label: &'static str,
    pub hint: &'static str,
    pub original_label: &'static str,
    pub original_hint: &'static str,
    pub limits_hint: String,
    /// What went wrong with the files, or that they must be chosen again (with their names).
    pub error: Option<String>,
    /// Files came with a refused form and were not kept; shown under a limit's message.
    pub choose_again: Option<String>,
    /// The problem was in the "untouched" field: show it open.
    pub original_open: bool,
}

impl FilesField {
    pub fn new(lang: Lang, limits: &crate::settings::LimitSettings) -> FilesField {
        let t = texts(lang);
        let limits_hint = match lang {
            Lang::Nl => format!(
                "Hoogstens {} bestanden van elk hoogstens {} MB; samen per melding hoogstens {} MB.",
                limits.files_per_message, limits.file_mib, limits.report_mib
            ),
            Lang::En => format!(
                "At most {} files of at most {} MB each; at most {} MB per report in all.",
                limits.files_per_message, limits.file_mib, limits.report_mib
            ),
        };
        FilesField {
            label: t.label,
            hint: if limits.clean_metadata {
                t.hint
            } else {
                t.cleaning_off_hint
            },
            original_label: t.original_label,
            original_hint: t.original_hint,
            limits_hint,
            error: None,
            choose_again: None,
            original_open: false,
        }
    }

    /// The same fields worded for a coordinator's reply.
    pub fn for_staff(mut self, lang: Lang) -> Self {
        let t = texts(lang);
        self.label = t.staff_label;
        self.hint = t.staff_hint;
        self.original_label = t.staff_original_label;
        self.original_hint = t.staff_original_hint;
        self
    }

    /// The form came back: `error` says what was wrong with the files (if it was them), and
    /// `again` is the line asking to choose the named files again.
    pub fn refuse(&mut self, error: Option<String>, again: Option<String>) {
        match error {
            Some(e) => {
                self.error = Some(e);
                self.choose_again = again;
            }
            None => self.error = again,
        }
    }
}

/// "Choose again: a.jpg, b.pdf" (or without names when none are known).
pub fn choose_again(lead: &str, names: &[String]) -> String {
    if names.is_empty() {
        lead.trim_end_matches(':').to_string() + "."
    } else {
        format!("{lead} {}.", names.join(", "))
    }
}

/// What a page shows about one stored file.
pub struct FileView {
    pub name: String,
    pub size: String,
    pub href: Option<String>,
    /// What was removed, as words.
    pub removed: Vec<&'static str>,
    /// A line about the cleaning: nothing found, or a warning.
    pub note: Option<&'static str>,
    pub warn: bool,
    pub message_id: Option<String>,
    pub t: &'static FileTexts,
}

pub fn size_label(bytes: u64, lang: Lang) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    let s = if b < KB {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.0} kB", b / KB)
    } else {
        format!("{:.1} MB", b / (KB * KB))
    };
    match lang {
        Lang::Nl => s.replace('.', ","),
        Lang::En => s,
    }
}

impl FileView {
    /// `own`: the viewer sent this file (wording of the "kept untouched" line).
    pub fn new(meta: &FileMeta, lang: Lang, href: Option<String>, message_id: Option<String>, own: bool) -> FileView {
        let t = texts(lang);
        // Documents can hide more than their properties: say so, never "nothing found".
        let container = matches!(meta.kind, Kind::Pdf | Kind::Zip);
        let (note, warn) = match meta.warning {
            Warning::None if container => (Some(t.residual), true),
            Warning::None if !meta.removed.is_empty() => (None, false),
            Warning::None if meta.kind == Kind::Text => (Some(t.no_metadata), false),
            Warning::None => (Some(t.nothing_found), false),
            Warning::CannotClean => (Some(t.cannot_clean), true),
            Warning::Unreadable => (Some(t.unreadable), true),
            Warning::TooLargeToClean => (Some(t.too_large_to_clean), true),
            Warning::KeptOriginal if own => (Some(t.kept_original), true),
            Warning::KeptOriginal => (Some(t.kept_original_other), true),
            Warning::CleaningOff => (Some(t.cleaning_off), true),
        };
        FileView {
            name: meta.name.clone(),
            size: size_label(meta.size, lang),
            href,
            removed: meta.removed.iter().map(|r| removed_label(*r, lang)).collect(),
            note,
            warn,
            message_id,
            t,
        }
    }
}

fn role_of(row: &FileRow) -> Option<Role> {
    match row.author_role.as_str() {
        "reporter" => Some(Role::Reporter),
        "coordinator" => Some(Role::Coordinator),
        _ => None,
    }
}

fn open_meta(key: &ReportKey, row: &FileRow) -> anyhow::Result<(FileMeta, [u8; 16], [u8; 16], Role)> {
    let rid = ids::parse(&row.report_id).ok_or_else(|| anyhow::anyhow!("malformed report id"))?;
    let fid = ids::parse(&row.id).ok_or_else(|| anyhow::anyhow!("malformed file id"))?;
    let role = role_of(row).ok_or_else(|| anyhow::anyhow!("unknown file author"))?;
    let sealed = row
        .sealed_meta
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("file without description"))?;
    let meta = FileMeta::open(key, rid, fid, role, sealed).map_err(|e| anyhow::anyhow!("file description: {e}"))?;
    Ok((meta, rid, fid, role))
}

/// Every attached file of a report, described; `href` gives a file id its download link.
pub async fn views(
    store: &Store,
    key: &ReportKey,
    report_id: &str,
    lang: Lang,
    viewer: Role,
    href: impl Fn(&str) -> String,
) -> anyhow::Result<Vec<FileView>> {
    let mut out = Vec::new();
    for row in store.report_files(report_id).await? {
        let (meta, _, _, role) = open_meta(key, &row)?;
        out.push(FileView::new(
            &meta,
            lang,
            Some(href(&row.id)),
            row.message_id.clone(),
            role == viewer,
        ));
    }
    Ok(out)
}

/// Media types we name in a download; anything else (HTML, SVG, scripts) goes out as bytes.
fn safe_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Jpeg => "image/jpeg",
        Kind::Png => "image/png",
        Kind::Webp => "image/webp",
        Kind::Heic => "image/heic",
        Kind::Pdf => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Streams a file, decrypting one segment (about 1 MiB) at a time. Always an attachment,
/// never sniffed, sandboxed if a browser renders it anyway. `None` if the file is unknown.
/// A decrypted segment handed to the response without a copy, and zeroed when the response
/// is done with it: the buffer is its own owner (`Bytes::from_owner`), so dropping the last
/// reference drops the `Zeroizing`, which overwrites the whole allocation before freeing it.
fn plaintext_body(plain: zeroize::Zeroizing<Vec<u8>>) -> actix_web::web::Bytes {
    actix_web::web::Bytes::from_owner(plain)
}

pub async fn download(
    store: &Store,
    key: &ReportKey,
    report_id: &str,
    file_id: &str,
) -> anyhow::Result<Option<HttpResponse>> {
    let Some(row) = store.report_file(report_id, file_id).await? else {
        return Ok(None);
    };
    let (meta, rid, fid, role) = open_meta(key, &row)?;
    let chunks = u64::try_from(row.chunks)?;
    let mut opener = FileOpener::new(
        key,
        &body_context(rid, fid, role),
        &row.stream_header,
        chunks,
        meta.size,
    )
    .map_err(|e| anyhow::anyhow!("file stream: {e}"))?;
    let segments = i64::try_from(chunks.div_ceil(SEGMENT_CHUNKS as u64))?;
    // The first segment is opened before answering, so a damaged file gets an error page
    // rather than a cut-off download.
    let first_sealed = store
        .file_segment(&row.id, 0)
        .await?
        .ok_or_else(|| anyhow::anyhow!("file segment missing"))?;
    // Decrypted in the buffer read from the database and handed to the response as it is.
    let first = opener
        .open_segment_in_place(first_sealed)
        .map_err(|e| anyhow::anyhow!("file segment 0: {e}"))?;
    let first = plaintext_body(first);
    let store = store.clone();
    let id = row.id.clone();
    let rest = stream::unfold((opener, 1i64, false), move |(mut opener, seq, failed)| {
        let store = store.clone();
        let id = id.clone();
        async move {
            if failed || seq >= segments {
                if !failed && !opener.done() {
                    return Some((Err(std_error("file ended early")), (opener, seq, true)));
                }
                return None;
            }
            let item = match store.file_segment(&id, seq).await {
                Ok(Some(sealed)) => opener
                    .open_segment_in_place(sealed)
                    .map(plaintext_body)
                    .map_err(|_| std_error("file segment does not open")),
                Ok(None) => Err(std_error("file segment missing")),
                Err(_) => Err(std_error("reading a file segment failed")),
            };
            let failed = item.is_err();
            Some((item, (opener, seq + 1, failed)))
        }
    });
    let body = futures_util::StreamExt::chain(stream::once(async move { Ok(first) }), rest);
    let ascii: String = meta
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: meta.name.clone().into_bytes(),
            }),
        ],
    };
    Ok(Some(
        HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, safe_type(meta.kind)))
            .insert_header(disposition)
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .no_chunking(meta.size)
            .streaming(body),
    ))
}

fn std_error(msg: &'static str) -> actix_web::Error {
    actix_web::error::ErrorInternalServerError(msg)
}

/// "b was the same as a": duplicates in one upload are stored once.
pub fn duplicate_notes(up: &upload::Upload, lang: Lang) -> Vec<String> {
    up.duplicates
        .iter()
        .map(|(dup, first)| match lang {
            Lang::Nl => format!("‘{dup}’ was hetzelfde bestand als ‘{first}’ en is één keer opgeslagen."),
            Lang::En => format!("‘{dup}’ was the same file as ‘{first}’ and was stored once."),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_decrypted_segment_is_served_from_its_own_zeroizing_buffer() {
        let plain = zeroize::Zeroizing::new(b"platte tekst".to_vec());
        let at = plain.as_ptr();
        let body = super::plaintext_body(plain);
        // No copy: the response holds the very buffer that is zeroed when it is dropped.
        assert_eq!(body.as_ptr(), at);
        assert_eq!(&body[..], b"platte tekst");
    }
}
