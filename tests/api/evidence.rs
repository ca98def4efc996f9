//! Evidence files over HTTP: uploads at submission and in the thread both ways, downloads
//! byte for byte, metadata removal checked with the format crates on files other tools
//! made, every limit and a cut-off upload storing nothing, and sealed segments that do not
//! open once moved.

use std::io::Read;

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{between, hidden, links, report_fields, spawn_app, spawn_app_with, Backend, Browser, TestApp};

both_backends!(
    files_travel_both_ways_cleaned,
    limits_store_nothing_and_keep_the_text,
    cut_off_upload_leaves_nothing,
    moved_segments_do_not_open,
    hostile_names_and_types_stay_inert,
    cleaning_off_and_fake_text_are_flagged,
);

const NAME: &[u8] = b"Klokkenluider";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/metadata/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The entropy-coded image data of a JPEG (from the start-of-scan marker on).
fn scan_data(jpeg: &[u8]) -> &[u8] {
    let at = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).expect("SOS marker");
    &jpeg[at..]
}

/// Every part of a zip, decompressed, must be readable and free of the author's name.
fn assert_zip_clean(bytes: &[u8], what: &str) {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("still a zip");
    assert!(!zip.is_empty());
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).expect("part");
        let mut data = Vec::new();
        part.read_to_end(&mut data).expect("part reads");
        assert!(!contains(&data, NAME), "{what}: the name is still in {:?}", part.name());
    }
}

/// The first link after `marker` on a page (a file's download link follows its name).
fn link_after(html: &str, marker: &str) -> String {
    let at = html.find(marker).expect("marker on the page");
    crate::helpers::unescape(&between(&html[at..], "href=\"", "\"").expect("a link after it"))
}

async fn report_form(b: &Browser) -> String {
    let form = b.get("/melden").await;
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    assert!(form.body.contains("name=\"files\""));
    hidden(&form.body, "form_token").expect("token")
}

/// Opens the report with its code; returns the thread page's csrf token and body.
async fn open_with_code(b: &Browser, code: &str) -> (String, String) {
    let page = b.post("/opvolgen", &[("code", code)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (hidden(&page.body, "csrf").expect("csrf"), page.body)
}

async fn first_report_href(coord: &Browser) -> String {
    let inbox = coord.get("/beheer").await;
    between(&inbox.body, "<td><a href=\"", "\"").expect("report link")
}

async fn files_travel_both_ways_cleaned(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    let token = report_form(&reporter).await;
    let photo = fixture("photo-gps-author.jpg");
    let memo = fixture("memo-author.docx");
    let notes = b"aantekeningen: vergadering 3 maart, 14:00\n".to_vec();
    let done = reporter
        .post_multipart(
            "/melden",
            &report_fields("Er is met facturen gesjoemeld.", &token),
            &[
                ("files", "foto.jpg", &photo),
                ("files", "memo.docx", &memo),
                ("files_original", "aantekeningen.txt", &notes),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let code = crate::helpers::shown_code(&done.body).expect("meldcode");
    // The reporter is told, per file, what was removed, and warned about the untouched one.
    assert!(done.body.contains("foto.jpg") && done.body.contains("memo.docx"));
    assert!(done.body.contains("locatie (GPS-positie)"), "{}", done.body);
    assert!(done.body.contains("EXIF-gegevens"));
    assert!(done.body.contains("documenteigenschappen"));
    // What is not removed from a document is said plainly.
    assert!(done
        .body
        .contains("opmerkingen en bijgehouden wijzigingen in het document zelf"));
    assert!(done.body.contains("Op uw verzoek onaangeroerd opgeslagen"));
    assert_eq!(app.count("evidence_files").await, 3);

    // The coordinator downloads them: cleaned, still readable, with inert headers.
    let href = first_report_href(&coord).await;
    let page = coord.get(&href).await;
    let downloads = links(&page.body, &format!("{href}/bestanden/"));
    assert_eq!(downloads.len(), 3, "{}", page.body);
    let (status, headers, body) = coord.get_bytes(&downloads[0]).await;
    assert_eq!(status, StatusCode::OK);
    let jpeg = body.expect("whole download");
    assert!(headers["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    assert!(headers["content-disposition"]
        .to_str()
        .expect("ascii")
        .contains("foto.jpg"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .expect("ascii")
        .contains("sandbox"));
    assert!(!contains(&jpeg, NAME), "the author's name left the JPEG");
    let parsed = img_parts::jpeg::Jpeg::from_bytes(jpeg.clone().into()).expect("still a JPEG");
    assert!(img_parts::ImageEXIF::exif(&parsed).is_none(), "EXIF (with GPS) removed");
    assert_eq!(scan_data(&jpeg), scan_data(&photo), "the picture itself is untouched");
    let (_, _, docx) = coord.get_bytes(&downloads[1]).await;
    assert_zip_clean(&docx.expect("docx"), "memo.docx");
    let (_, _, txt) = coord.get_bytes(&downloads[2]).await;
    assert_eq!(txt.expect("txt"), notes, "an untouched file comes back byte for byte");

    // The coordinator sends a document back; it is cleaned too.
    let csrf = hidden(&page.body, "csrf").expect("csrf");
    let letter = fixture("letter-author.pdf");
    let sent = coord
        .post_multipart(
            &format!("{href}/bericht"),
            &[("csrf", &csrf), ("message", "Bijgaand de brief; klopt dit?")],
            &[("files", "brief.pdf", &letter)],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("brief.pdf"));

    // The reporter reads it with the code and downloads it.
    let (csrf_r, thread) = open_with_code(&reporter, &code).await;
    assert!(thread.contains("brief.pdf"));
    let reporter_links = links(&thread, "/opvolgen/bestanden/");
    assert_eq!(reporter_links.len(), 4, "the reporter sees every file of the report");
    let pdf_link = &link_after(&thread, "brief.pdf</strong>");
    assert!(reporter_links.contains(pdf_link));
    let (status, headers, pdf) = reporter.get_bytes(pdf_link).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/pdf");
    let pdf = pdf.expect("pdf");
    assert!(!contains(&pdf, NAME), "the author's name left the PDF");
    let doc = lopdf::Document::load_mem(&pdf).expect("the PDF still opens");
    assert!(doc.trailer.get(b"Info").is_err(), "no document information dictionary");
    assert!(!doc.get_pages().is_empty());

    // The reporter answers with a screenshot and a spreadsheet; the coordinator gets them clean.
    let screenshot = fixture("screenshot-author.png");
    let budget = fixture("budget-author.xlsx");
    let odt = fixture("minutes-author.odt");
    let answered = reporter
        .post_multipart(
            "/opvolgen/bericht",
            &[("csrf", &csrf_r), ("message", "Ja. Hierbij meer.")],
            &[
                ("files", "scherm.png", &screenshot),
                ("files", "begroting.xlsx", &budget),
                ("files", "notulen.odt", &odt),
            ],
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    let page = coord.get(&href).await;
    let downloads = links(&page.body, &format!("{href}/bestanden/"));
    assert_eq!(downloads.len(), 7);
    let (_, _, png) = coord.get_bytes(&downloads[4]).await;
    let png = png.expect("png");
    assert!(!contains(&png, NAME), "the author's name left the PNG");
    img_parts::png::Png::from_bytes(png.into()).expect("still a PNG");
    let (_, _, xlsx) = coord.get_bytes(&downloads[5]).await;
    assert_zip_clean(&xlsx.expect("xlsx"), "begroting.xlsx");
    let (_, _, odt_back) = coord.get_bytes(&downloads[6]).await;
    assert_zip_clean(&odt_back.expect("odt"), "notulen.odt");

    // A coordinator's download is in the audit trail.
    let audit = coord.get("/beheer/logboek").await;
    assert!(audit.body.contains("bestand gedownload"), "{}", audit.body);

    // Someone else's browser, without the code or a login, gets nothing.
    let stranger = app.browser();
    let (status, _, _) = stranger.get_bytes(pdf_link).await;
    assert_ne!(status, StatusCode::OK);
    let (status, _, _) = stranger.get_bytes(&downloads[0]).await;
    assert_ne!(status, StatusCode::OK);
}

async fn stored(app: &TestApp) -> (i64, i64, i64) {
    (
        app.count("reports").await,
        app.count("evidence_files").await,
        app.count("evidence_segments").await,
    )
}

async fn limits_store_nothing_and_keep_the_text(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.limits.file_mib = 1;
        s.limits.files_per_message = 2;
        s.limits.report_mib = 2;
    })
    .await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    let what = "Mijn leidinggevende keurt zijn eigen declaraties goed.";
    let mib = 1024 * 1024;

    // One byte over the per-file limit: 413, nothing stored, the text kept.
    let token = report_form(&reporter).await;
    let big = vec![b'x'; mib + 1];
    let res = reporter
        .post_multipart("/melden", &report_fields(what, &token), &[("files", "groot.bin", &big)])
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.body);
    assert!(
        res.body.contains("groot.bin") && res.body.contains("groter dan 1 MB"),
        "{}",
        res.body
    );
    assert!(res.body.contains(what), "the typed text is kept");
    assert!(
        res.body.contains("Kies opnieuw: groot.bin."),
        "the file is named to choose again"
    );
    assert_eq!(stored(&app).await, (0, 0, 0));

    // More files than allowed, in English this time.
    let small = vec![b'y'; 1000];
    let other = vec![b'z'; 1000];
    let third = vec![b'w'; 1000];
    let mut fields = report_fields(what, &token);
    fields.push(("lang", "en"));
    let res = reporter
        .post_multipart(
            "/melden",
            &fields,
            &[
                ("files", "a.bin", &small),
                ("files", "b.bin", &other),
                ("files", "c.bin", &third),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.body.contains("at most 2 files"), "{}", res.body);
    assert!(res.body.contains(what));
    assert_eq!(stored(&app).await, (0, 0, 0));

    // An empty file is refused by name.
    let res = reporter
        .post_multipart("/melden", &report_fields(what, &token), &[("files", "leeg.pdf", b"")])
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("leeg.pdf") && res.body.contains("leeg (0 bytes)"));
    assert_eq!(stored(&app).await, (0, 0, 0));

    // A form error elsewhere: the files are dropped and the reporter told to choose again.
    let res = reporter
        .post_multipart("/melden", &report_fields("", &token), &[("files", "a.bin", &small)])
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let summary = between(&res.body, "class=\"error-summary\"", "</div>").expect("error summary");
    assert!(
        summary.contains("Kies opnieuw: a.bin."),
        "the summary asks for the file again: {summary}"
    );
    assert_eq!(stored(&app).await, (0, 0, 0));

    // The same file twice is stored once, and the reporter is told.
    let just_under = vec![b'q'; mib - 10];
    let res = reporter
        .post_multipart(
            "/melden",
            &report_fields(what, &token),
            &[("files", "een.bin", &just_under), ("files", "twee.bin", &just_under)],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(
        res.body.contains("‘twee.bin’ was hetzelfde bestand als ‘een.bin’"),
        "{}",
        res.body
    );
    assert_eq!(app.count("evidence_files").await, 1);
    let code = crate::helpers::shown_code(&res.body).expect("code");

    // The report holds 1 MiB of its 2: a reply with 1 MiB more crosses the report's limit.
    let (csrf, _) = open_with_code(&reporter, &code).await;
    let before = stored(&app).await;
    let messages = app.count("messages").await;
    let res = reporter
        .post_multipart(
            "/opvolgen/bericht",
            &[("csrf", &csrf), ("message", "nog twee")],
            &[
                ("files", "c.bin", &vec![b'c'; 600_000]),
                ("files", "d.bin", &vec![b'd'; 600_000]),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.body);
    assert!(res.body.contains("hoogstens 2 MB"), "{}", res.body);
    assert!(res.body.contains("nog twee"), "the reply's text is kept");
    assert_eq!(stored(&app).await, before);
    assert_eq!(app.count("messages").await, messages, "no message without its files");

    // A coordinator's upload obeys the per-file limit as well.
    let href = first_report_href(&coord).await;
    let page = coord.get(&href).await;
    let csrf_c = hidden(&page.body, "csrf").expect("csrf");
    let res = coord
        .post_multipart(
            &format!("{href}/bericht"),
            &[("csrf", &csrf_c), ("message", "zie bijlage")],
            &[("files", "groot.bin", &big)],
        )
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.body.contains("zie bijlage"));
    assert_eq!(stored(&app).await, before);
}

async fn cut_off_upload_leaves_nothing(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(backend).await;
    app.setup("anna").await;
    let reporter = app.browser();
    let token = report_form(&reporter).await;
    let payload = vec![b'e'; 3 * 1024 * 1024];
    let (content_type, body) = crate::helpers::multipart(
        &report_fields("afgebroken", &token),
        &[("files", "groot.bin", &payload)],
    );
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /melden HTTP/1.1\r\nHost: {addr}\r\nOrigin: {}\r\nSec-Fetch-Site: same-origin\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        app.base,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    // Two thirds of the file, so sealed segments are already stored, then the line drops.
    conn.write_all(&body[..2 * 1024 * 1024]).await.expect("part");
    conn.flush().await.expect("flush");
    let mut seen_upload = false;
    for _ in 0..100 {
        if app.count("evidence_segments").await > 0 {
            seen_upload = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen_upload, "the upload was being stored as it arrived");
    drop(conn);
    let mut left = (1, 1, 1);
    for _ in 0..200 {
        left = stored(&app).await;
        if left == (0, 0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(left, (0, 0, 0), "an interrupted upload leaves no file and no chunk");
}

async fn exec(app: &TestApp, sql: &str) {
    match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => {
            sqlx::query(sql).execute(p).await.expect("sql");
        }
        meldpunt::storage::Store::Postgres(p) => {
            sqlx::query(sql).execute(p).await.expect("sql");
        }
    }
}

/// Gives file `victim` a copy of `donor`'s sealed segments, as an attacker with write
/// access to the database could.
async fn replace_segments(app: &TestApp, victim: &str, donor: &str) {
    exec(
        app,
        &format!("DELETE FROM evidence_segments WHERE file_id = '{victim}'"),
    )
    .await;
    exec(
        app,
        &format!("INSERT INTO evidence_segments (file_id, seq, sealed) SELECT '{victim}', seq, sealed FROM evidence_segments WHERE file_id = '{donor}'"),
    )
    .await;
}

async fn file_ids(app: &TestApp) -> Vec<(String, String)> {
    let q = "SELECT id, report_id FROM evidence_files ORDER BY report_id, position";
    match &app.state.store {
        meldpunt::storage::Store::Sqlite(p) => sqlx::query_as(q).fetch_all(p).await.expect("ids"),
        meldpunt::storage::Store::Postgres(p) => sqlx::query_as(q).fetch_all(p).await.expect("ids"),
    }
}

async fn moved_segments_do_not_open(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    let a = vec![b'a'; 100_000];
    let b = vec![b'b'; 100_000];
    let c = vec![b'c'; 100_000];
    let token = report_form(&reporter).await;
    let res = reporter
        .post_multipart(
            "/melden",
            &report_fields("eerste", &token),
            &[("files", "a.bin", &a), ("files", "b.bin", &b)],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let token = report_form(&reporter).await;
    let res = reporter
        .post_multipart("/melden", &report_fields("tweede", &token), &[("files", "c.bin", &c)])
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let ids = file_ids(&app).await;
    assert_eq!(ids.len(), 3);

    // Every file downloads intact before anything is moved.
    let mut hrefs = Vec::new();
    for (fid, rid) in &ids {
        let href = format!("/beheer/melding/{rid}/bestanden/{fid}");
        let (status, _, body) = coord.get_bytes(&href).await;
        assert_eq!(status, StatusCode::OK);
        assert!([&a, &b, &c].contains(&&body.expect("bytes")));
        hrefs.push(href);
    }
    // The report with two files, and the one file of the other report.
    let two = ids
        .iter()
        .find(|(_, r)| ids.iter().filter(|(_, r2)| r2 == r).count() == 2)
        .map(|(_, r)| r.clone())
        .expect("a report with two files");
    let same_report: Vec<&(String, String)> = ids.iter().filter(|(_, r)| *r == two).collect();
    let other = ids.iter().find(|(_, r)| *r != two).expect("a file of another report");
    let (victim, donor_same, donor_other) = (&same_report[0].0, &same_report[1].0, &other.0);

    // A segment copied from another file of the same report does not open.
    replace_segments(&app, victim, donor_same).await;
    let victim_href = hrefs.iter().find(|h| h.ends_with(victim.as_str())).expect("href");
    let (status, _, _) = coord.get_bytes(victim_href).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "a moved segment must not open"
    );

    // Nor one from a file of another report.
    replace_segments(&app, victim, donor_other).await;
    let (status, _, _) = coord.get_bytes(victim_href).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    // The donors still open.
    let donor_href = hrefs.iter().find(|h| h.ends_with(donor_same.as_str())).expect("href");
    let (status, _, body) = coord.get_bytes(donor_href).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.expect("bytes"), b);
}

async fn hostile_names_and_types_stay_inert(backend: Backend) {
    let app = spawn_app(backend).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    let token = report_form(&reporter).await;
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec();
    let res = reporter
        .post_multipart(
            "/melden",
            &report_fields("html erbij", &token),
            &[
                ("files", "../../<script>alert(1)</script>.html", &html),
                ("files", "plaatje.svg", &svg),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(!res.body.contains("<script>alert(1)"), "the name is escaped");
    // A format we cannot clean is flagged.
    assert!(res.body.contains("kunnen we niet opschonen"));
    let href = first_report_href(&coord).await;
    let page = coord.get(&href).await;
    for link in links(&page.body, &format!("{href}/bestanden/")) {
        let (status, headers, _) = coord.get_bytes(&link).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers["content-type"], "application/octet-stream",
            "never rendered as HTML or SVG"
        );
        let cd = headers["content-disposition"].to_str().expect("ascii");
        assert!(
            cd.starts_with("attachment") && !cd.contains('/') && !cd.contains('<'),
            "{cd}"
        );
    }

    // A coordinator whose login ended mid-upload is sent to the login page, not reset.
    let logged_out = app.browser();
    let big = vec![b'u'; 2 * 1024 * 1024];
    let res = logged_out
        .post_multipart(
            &format!("{href}/bericht"),
            &[("message", "bijlage")],
            &[("files", "stuk.bin", &big)],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "the login page after the redirect");
    assert!(res.body.contains("name=\"password\""), "{}", res.body);

    // A body that claims to be multipart but is not: refused, nothing stored.
    let reporter = app.browser();
    let token = report_form(&reporter).await;
    let (ct, mut body) = crate::helpers::multipart(&report_fields("kapot", &token), &[("files", "x.bin", b"abc")]);
    body.truncate(body.len() - 30);
    body.extend_from_slice(b"garbage without a closing boundary");
    let before = app.count("evidence_files").await;
    let res = reqwest::Client::new()
        .post(format!("{}/melden", app.base))
        .header("content-type", ct)
        .header("Origin", app.base.as_str())
        .header("Sec-Fetch-Site", "same-origin")
        .body(body)
        .send()
        .await
        .expect("request");
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(app.count("evidence_files").await, before);
    assert_eq!(app.count("reports").await, 1);

    // Thousands of empty parts, or one endless part header: refused as too large, nothing stored.
    let token = report_form(&reporter).await;
    let mut fields = report_fields("veel delen", &token);
    let names: Vec<String> = (0..5000).map(|i| format!("x{i}")).collect();
    fields.extend(names.iter().map(|n| (n.as_str(), "")));
    let res = reporter.post_multipart("/melden", &fields, &[]).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    let boundary = "----b";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"what\"\r\nX-Long: ").into_bytes();
    body.extend(std::iter::repeat_n(b'a', 30 * 1024 * 1024));
    let res = reqwest::Client::new()
        .post(format!("{}/melden", app.base))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("Origin", app.base.as_str())
        .header("Sec-Fetch-Site", "same-origin")
        .body(body)
        .send()
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    assert_eq!(app.count("reports").await, 1);
    assert_eq!(app.count("evidence_files").await, before);
}

async fn cleaning_off_and_fake_text_are_flagged(backend: Backend) {
    // A ".txt" that is no text is not called free of hidden data.
    let app = spawn_app(backend.clone()).await;
    app.setup("anna").await;
    let reporter = app.browser();
    let token = report_form(&reporter).await;
    let res = reporter
        .post_multipart(
            "/melden",
            &report_fields("nep-tekst", &token),
            &[("files", "notities.txt", b"MZ\0\0binary pretending to be text")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("kunnen we niet opschonen"), "{}", res.body);
    assert!(!res.body.contains("heeft geen verborgen gegevens"));

    // With cleaning switched off the form says so before, and the done page after.
    let app = spawn_app_with(backend, |s| s.limits.clean_metadata = false).await;
    let (coord, _) = app.setup("anna").await;
    let reporter = app.browser();
    let form = reporter.get("/melden").await;
    assert!(form.body.contains("dit meldpunt haalt geen verborgen gegevens"));
    let token = hidden(&form.body, "form_token").expect("token");
    let photo = fixture("photo-gps-author.jpg");
    let res = reporter
        .post_multipart(
            "/melden",
            &report_fields("met foto", &token),
            &[("files", "foto.jpg", &photo)],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res
        .body
        .contains("Dit meldpunt haalt geen verborgen gegevens uit bestanden"));
    let href = first_report_href(&coord).await;
    let page = coord.get(&href).await;
    let link = links(&page.body, &format!("{href}/bestanden/")).pop().expect("a file");
    let (_, _, back) = coord.get_bytes(&link).await;
    assert_eq!(back.expect("bytes"), photo, "stored exactly as sent");
}
