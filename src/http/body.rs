//! Reading a request body: a urlencoded form, or `multipart/form-data` whose text parts
//! become a [`Form`] and whose file parts go to the caller through [`FileParts`]. Bounded as
//! bytes arrive, timed by one [`BodyTimer`], and drained after a problem so the browser
//! reads our page instead of a reset connection.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use actix_multipart::{Field, Multipart};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::http::form::Form;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    /// Broken off, malformed, or stalled past the body's timeout.
    Broken,
    /// A part's header could not be read: in practice a file name with a control character
    /// (a NUL byte) that the browser or a script put in its `Content-Disposition`. Told apart
    /// from [`BodyError::Broken`] so the user learns to rename the file, not to send again.
    BadPartHeader,
}

/// A body that sends nothing for this long is abandoned, so a stalled client cannot hold a
/// connection, memory or a cleaning slot.
pub const BODY_IDLE: Duration = Duration::from_secs(60);
/// A form without files arrives whole within this time (it is at most a few hundred KiB).
pub const FORM_TOTAL: Duration = Duration::from_secs(60);

/// After a problem, the rest of the request is read and dropped up to this much, so the
/// browser gets our page instead of a reset connection.
const DRAIN_CAP: u64 = 64 * 1024 * 1024;
/// Most text fields a form of ours has (with room to spare); more parts are refused.
const MAX_TEXT_PARTS: usize = 40;
/// How far the multipart parser may read beyond the part it is in.
const READ_AHEAD: u64 = 256 * 1024;
/// Room per part for its boundary and headers when bounding the whole body.
const PART_OVERHEAD: u64 = 1024;

/// The one timeout of a request body: it ends when no byte arrived for [`BODY_IDLE`],
/// counted from the last byte of the whole body rather than per wait (so reading on after a
/// stall adds nothing), or at an overall end when one is set.
#[derive(Clone)]
pub struct BodyTimer {
    last: Rc<Cell<Instant>>,
    end: Option<Instant>,
    ended: Rc<Cell<bool>>,
}

impl BodyTimer {
    pub fn new(total: Option<Duration>) -> BodyTimer {
        let now = Instant::now();
        BodyTimer {
            last: Rc::new(Cell::new(now)),
            end: total.map(|t| now + t),
            ended: Rc::new(Cell::new(false)),
        }
    }

    /// Bytes arrived.
    pub fn touch(&self) {
        self.last.set(Instant::now());
    }

    /// The body has arrived whole: nothing more will wake a parser waiting for bytes.
    pub fn body_ended(&self) {
        self.ended.set(true);
    }

    fn deadline(&self) -> Instant {
        let idle = self.last.get() + BODY_IDLE;
        self.end.map_or(idle, |end| end.min(idle))
    }

    /// Waits for `fut` until the body's time is up; `None` then. Also `None` when the body
    /// has ended and `fut` still waits: no byte can come to finish it (actix-multipart
    /// waits for ever on a body cut off right after a part's closing CRLF).
    pub async fn wait<F: Future>(&self, fut: F) -> Option<F::Output> {
        use std::task::Poll;
        let mut fut = std::pin::pin!(fut);
        loop {
            let mut sleep = std::pin::pin!(tokio::time::sleep_until(self.deadline()));
            let step = std::future::poll_fn(|cx| {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Ok(v));
                }
                if self.ended.get() {
                    return Poll::Ready(Err(true));
                }
                sleep.as_mut().poll(cx).map(|()| Err(false))
            })
            .await;
            match step {
                Ok(v) => return Some(v),
                Err(true) => return None,
                // Bytes may have arrived meanwhile without completing this wait (a part's
                // headers still incomplete): wait on from the new last byte.
                Err(false) if self.deadline() > Instant::now() => continue,
                Err(false) => return None,
            }
        }
    }
}

/// Reads at most `limit` bytes. Past the limit the rest is read and dropped (up to a hard
/// cap) so the browser receives our page rather than a reset connection.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, BodyError> {
    let timer = BodyTimer::new(Some(FORM_TOTAL));
    let mut body = web::BytesMut::new();
    let mut seen = 0usize;
    let mut over = false;
    while let Some(chunk) = timer.wait(payload.next()).await.ok_or(BodyError::Broken)? {
        timer.touch();
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        seen += chunk.len();
        if over || body.len() + chunk.len() > limit {
            over = true;
            body.clear();
            if seen as u64 > DRAIN_CAP {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if over {
        Err(BodyError::TooLarge)
    } else {
        Ok(body.freeze())
    }
}

/// What a form body may hold.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// Bytes of all text fields together; in a multipart body each part's name and headers
    /// count too.
    pub text_bytes: usize,
    /// File parts that may carry a file.
    pub files: usize,
    /// Bytes one file part may bring.
    pub file_bytes: u64,
    /// Bytes all files together may bring (never more than `files` × `file_bytes` anyway).
    pub files_bytes: u64,
}

/// Where the file parts of a multipart form go; everything else about the body is the
/// reader's. Used generically on the request's own thread, so no `Send` bound is wanted.
#[allow(async_fn_in_trait)]
pub trait FileParts {
    /// The caller's problem with a request; the reader's own ([`BodyError`]) convert into it:
    /// `TooLarge` when the text or the body as a whole is too large, `Broken` otherwise.
    type Problem: From<BodyError>;

    /// Whether file parts of the field `name` are wanted. Others are read and dropped.
    fn wants(&self, name: &str) -> bool;

    /// One file part of a wanted field, to be read through `part`. An `Err` ends the
    /// reading: the rest of the body is drained and [`FileParts::abandon`] is called.
    async fn file(&mut self, part: FilePart<'_>) -> Result<(), Self::Problem>;

    /// Called once after a problem, when the rest of the body has been drained: undo what
    /// was kept of the files.
    async fn abandon(&mut self);
}

/// One file part of a multipart body, handed to [`FileParts::file`].
pub struct FilePart<'a> {
    field: Field,
    /// A field must not be polled again once it has ended.
    ended: bool,
    timer: &'a BodyTimer,
    name: &'a str,
    file_name: String,
}

impl FilePart<'_> {
    /// The form field the part belongs to.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The file's name as the browser sent it: empty when no file was chosen. Not cleaned.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The next piece of the file, or `None` once (and after) it has ended.
    pub async fn next_bytes(&mut self) -> Result<Option<web::Bytes>, BodyError> {
        if self.ended {
            return Ok(None);
        }
        match self.timer.wait(self.field.next()).await.ok_or(BodyError::Broken)? {
            Some(bytes) => bytes.map(Some).map_err(|_| BodyError::Broken),
            None => {
                self.ended = true;
                Ok(None)
            }
        }
    }

    /// Reads and drops what is left of the file.
    pub async fn drain(&mut self) -> Result<(), BodyError> {
        while self.next_bytes().await?.is_some() {}
        Ok(())
    }
}

/// A form body as read: its text fields, and the problem that ended the reading, if any.
pub struct Body<P> {
    pub form: Form,
    pub problem: Option<P>,
    /// The field of the part the problem came from, when it came from reading a part (its
    /// text, its name, or the caller's [`FileParts::file`]).
    pub problem_field: Option<String>,
    /// The names of the files chosen in the parts drained after a problem, as the browser
    /// sent them (never empty), in order: to ask for them again by name.
    pub drained_files: Vec<String>,
}

/// Reads a form body: `multipart/form-data` (text parts into the form, file parts of the
/// fields `files` wants to it), or else a urlencoded form of at most `limits.text_bytes`.
pub async fn read<F: FileParts>(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &BodyLimits,
    files: &mut F,
) -> Body<F::Problem> {
    let mut body = Body {
        form: Form::default(),
        problem: None,
        problem_field: None,
        drained_files: Vec::new(),
    };
    let multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        match read_body(payload, limits.text_bytes).await {
            Ok(bytes) => body.form = Form::parse(&bytes),
            Err(e) => body.problem = Some(e.into()),
        }
        return body;
    }
    // Everything a valid request can hold, plus room for part headers: past it the body is
    // cut off, so neither the multipart parser (headers, preamble) nor a drain reads without end.
    let files_room = limits
        .file_bytes
        .saturating_mul(limits.files as u64)
        .min(limits.files_bytes);
    let cap = files_room
        .saturating_add(limits.text_bytes as u64)
        .saturating_add(PART_OVERHEAD * (limits.files as u64 + MAX_TEXT_PARTS as u64));
    let over = Rc::new(Cell::new(false));
    let over_in_stream = over.clone();
    // Once a problem is found the rest is only drained: the body may then run on past what a
    // valid form could hold (a file well over its limit), up to the drain's own cap, so the
    // reporter gets the page naming the file instead of a reset connection.
    let draining = Rc::new(Cell::new(false));
    let draining_in_stream = draining.clone();
    let timer = BodyTimer::new(None);
    let timer_in_stream = timer.clone();
    // What may be read so far: the text budget until a file starts, then a file's worth more
    // per file. So a part header or a preamble can never grow past the text budget.
    let allowed = Rc::new(Cell::new(limits.text_bytes as u64 + READ_AHEAD));
    let allowed_in_stream = allowed.clone();
    let mut seen = 0u64;
    let payload = payload.map(move |item| {
        let bytes = item?;
        timer_in_stream.touch();
        seen += bytes.len() as u64;
        let over = if draining_in_stream.get() {
            seen > cap.saturating_add(DRAIN_CAP)
        } else {
            seen > cap || seen > allowed_in_stream.get()
        };
        if over {
            over_in_stream.set(true);
            return Err(actix_web::error::PayloadError::Overflow);
        }
        Ok(bytes)
    });
    let timer_at_end = timer.clone();
    let payload = payload.chain(futures_util::stream::poll_fn(move |_| {
        timer_at_end.body_ended();
        std::task::Poll::Ready(None)
    }));
    let mut reader = Parts {
        allowed,
        timer: timer.clone(),
        limits,
        text_used: 0,
        form: Form::default(),
    };
    let mut mp = Multipart::new(req.headers(), payload);
    let mut parts = 0usize;
    // The parser must not be polled again once it has ended or failed (it panics).
    let mut mp_ended = false;
    loop {
        let field = match timer.wait(mp.next()).await {
            Some(Some(Ok(field))) => field,
            Some(None) => {
                mp_ended = true;
                break;
            }
            Some(Some(Err(e))) => {
                mp_ended = true;
                let error = if over.get() {
                    BodyError::TooLarge
                } else if matches!(e, actix_multipart::MultipartError::Parse(_)) {
                    BodyError::BadPartHeader
                } else {
                    BodyError::Broken
                };
                body.problem = Some(error.into());
                break;
            }
            None => {
                mp_ended = true;
                let error = if over.get() {
                    BodyError::TooLarge
                } else {
                    BodyError::Broken
                };
                body.problem = Some(error.into());
                break;
            }
        };
        parts += 1;
        if parts > MAX_TEXT_PARTS + limits.files * 2 {
            body.problem = Some(BodyError::TooLarge.into());
            break;
        }
        let name = field.name().unwrap_or_default().to_string();
        if let Err(problem) = reader.part(field, &name, files).await {
            // The body was larger than any valid form: say so, not "interrupted".
            body.problem = Some(if over.get() {
                BodyError::TooLarge.into()
            } else {
                problem
            });
            body.problem_field = Some(name);
            break;
        }
    }
    if body.problem.is_some() {
        // Drain what is left (up to a cap) so the browser reads our answer.
        draining.set(true);
        let mut drained = 0u64;
        if !mp_ended {
            'drain: loop {
                let Some(Some(Ok(mut field))) = timer.wait(mp.next()).await else {
                    break;
                };
                if let Some(name) = part_file_name(&field) {
                    if !name.is_empty() {
                        body.drained_files.push(name);
                    }
                }
                while let Some(Some(Ok(bytes))) = timer.wait(field.next()).await {
                    drained += bytes.len() as u64;
                    if drained > DRAIN_CAP {
                        break 'drain;
                    }
                }
            }
        }
        files.abandon().await;
    }
    if over.get() && body.problem.is_none() {
        body.problem = Some(BodyError::TooLarge.into());
    }
    body.form = reader.form;
    body
}

/// The file name a part carries: `filename=`, or else the RFC 5987 `filename*=` some
/// clients send alone.
fn part_file_name(field: &Field) -> Option<String> {
    use actix_web::http::header::{Charset, DispositionParam};
    let cd = field.content_disposition()?;
    if let Some(name) = cd.get_filename() {
        return Some(name.to_string());
    }
    cd.parameters.iter().find_map(|p| match p {
        DispositionParam::FilenameExt(ext) => Some(match ext.charset {
            Charset::Iso_8859_1 => ext.value.iter().map(|&b| char::from(b)).collect(),
            _ => String::from_utf8_lossy(&ext.value).into_owned(),
        }),
        _ => None,
    })
}

/// The parts of one multipart body as they are read.
struct Parts<'a> {
    allowed: Rc<Cell<u64>>,
    /// The body's one timeout, shared by every wait on it.
    timer: BodyTimer,
    limits: &'a BodyLimits,
    text_used: usize,
    form: Form,
}

impl Parts<'_> {
    /// One part of the field `name`: text into the form, a file to `files`.
    async fn part<F: FileParts>(&mut self, mut field: Field, name: &str, files: &mut F) -> Result<(), F::Problem> {
        // Names and headers count towards the text budget too.
        self.text_used += name.len() + 64;
        if self.text_used > self.limits.text_bytes {
            return Err(BodyError::TooLarge.into());
        }
        let Some(file_name) = part_file_name(&field) else {
            let mut value = Zeroizing::new(Vec::new());
            while let Some(bytes) = self.timer.wait(field.next()).await.ok_or(BodyError::Broken)? {
                let bytes = bytes.map_err(|_| BodyError::Broken)?;
                self.text_used += bytes.len();
                if self.text_used > self.limits.text_bytes {
                    return Err(BodyError::TooLarge.into());
                }
                value.extend_from_slice(&bytes);
            }
            self.form.push(name.to_string(), &value);
            return Ok(());
        };
        let mut part = FilePart {
            field,
            ended: false,
            timer: &self.timer,
            name,
            file_name,
        };
        if !files.wants(name) {
            // Not a file field of the caller's: read and drop.
            return part.drain().await.map_err(Into::into);
        }
        // A file part may bring a file's worth of bytes (the count of parts is bounded).
        self.allowed
            .set(self.allowed.get().saturating_add(self.limits.file_bytes + READ_AHEAD));
        files.file(part).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::FromRequest;

    const BOUNDARY: &str = "XyZ";

    /// A multipart body of (field, file name, content) parts.
    fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, file, content) in parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            let file = file.map_or(String::new(), |f| format!("; filename=\"{f}\""));
            body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"{file}\r\n").as_bytes());
            if !file.is_empty() {
                body.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    async fn request(content_type: &str, body: Vec<u8>) -> (HttpRequest, web::Payload) {
        let (req, mut pl) = actix_web::test::TestRequest::post()
            .insert_header((actix_web::http::header::CONTENT_TYPE, content_type))
            .set_payload(body)
            .to_http_parts();
        let payload = web::Payload::from_request(&req, &mut pl).await.expect("payload");
        (req, payload)
    }

    fn limits(text_bytes: usize) -> BodyLimits {
        BodyLimits {
            text_bytes,
            files: 2,
            file_bytes: 1024,
            files_bytes: 2048,
        }
    }

    /// Keeps the files of the field "files", failing on one whose content is "bad".
    #[derive(Default)]
    struct Kept {
        files: Vec<(String, Vec<u8>)>,
        abandoned: bool,
    }

    impl FileParts for Kept {
        type Problem = BodyError;

        fn wants(&self, name: &str) -> bool {
            name == "files"
        }

        async fn file(&mut self, mut part: FilePart<'_>) -> Result<(), BodyError> {
            let mut content = Vec::new();
            while let Some(bytes) = part.next_bytes().await? {
                content.extend_from_slice(&bytes);
            }
            if content == b"bad" {
                return Err(BodyError::Broken);
            }
            self.files.push((part.file_name().to_string(), content));
            Ok(())
        }

        async fn abandon(&mut self) {
            self.files.clear();
            self.abandoned = true;
        }
    }

    fn multipart_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    #[actix_web::test]
    async fn text_parts_become_the_form_and_files_go_to_the_caller() {
        let body = multipart(&[
            ("a", None, b"een\r\ntwee"),
            ("files", Some("memo.txt"), b"hello"),
            ("other", Some("x.bin"), b"dropped"),
            ("b", None, b"ok"),
        ]);
        let (req, payload) = request(&multipart_type(), body).await;
        let mut kept = Kept::default();
        let got = read(&req, payload, &limits(4096), &mut kept).await;
        assert_eq!(got.problem, None);
        assert_eq!(got.form.get("a"), Some("een\ntwee"));
        assert_eq!(got.form.get("b"), Some("ok"));
        assert_eq!(got.form.get("other"), None);
        assert_eq!(kept.files, vec![("memo.txt".to_string(), b"hello".to_vec())]);
        assert!(!kept.abandoned);
    }

    #[actix_web::test]
    async fn a_urlencoded_body_is_a_form() {
        let (req, payload) = request("application/x-www-form-urlencoded", b"a=1&b=twee".to_vec()).await;
        let got = read(&req, payload, &limits(4096), &mut Kept::default()).await;
        assert_eq!(got.problem, None);
        assert_eq!(got.form.get("b"), Some("twee"));
        let (req, payload) = request("application/x-www-form-urlencoded", vec![b'a'; 5000]).await;
        let got = read(&req, payload, &limits(4096), &mut Kept::default()).await;
        assert_eq!(got.problem, Some(BodyError::TooLarge));
    }

    #[actix_web::test]
    async fn text_over_the_budget_is_too_large() {
        let long = vec![b'x'; 600];
        let body = multipart(&[("a", None, &long)]);
        let (req, payload) = request(&multipart_type(), body).await;
        let got = read(&req, payload, &limits(512), &mut Kept::default()).await;
        assert_eq!(got.problem, Some(BodyError::TooLarge));
        assert_eq!(got.problem_field.as_deref(), Some("a"));
    }

    #[actix_web::test]
    async fn a_body_over_its_cap_is_too_large() {
        // Far more than the text budget plus read-ahead, before any file part starts.
        let preamble = vec![b'p'; 600 * 1024];
        let mut body = preamble;
        body.extend_from_slice(b"\r\n");
        body.extend(multipart(&[("a", None, b"1")]));
        let (req, payload) = request(&multipart_type(), body).await;
        let got = read(&req, payload, &limits(512), &mut Kept::default()).await;
        assert_eq!(got.problem, Some(BodyError::TooLarge));
    }

    #[actix_web::test]
    async fn too_many_parts_are_refused() {
        let parts: Vec<(&str, Option<&str>, &[u8])> = (0..MAX_TEXT_PARTS + 5).map(|_| ("a", None, &b""[..])).collect();
        let (req, payload) = request(&multipart_type(), multipart(&parts)).await;
        let got = read(&req, payload, &limits(64 * 1024), &mut Kept::default()).await;
        assert_eq!(got.problem, Some(BodyError::TooLarge));
        assert_eq!(got.problem_field, None);
    }

    #[actix_web::test]
    async fn after_a_problem_the_rest_is_drained_and_its_files_named() {
        let body = multipart(&[
            ("files", Some("good.txt"), b"fine"),
            ("files", Some("broken.txt"), b"bad"),
            ("files", Some("later.pdf"), b"never read"),
            ("files", Some(""), b""),
            ("b", None, b"not kept"),
        ]);
        let (req, payload) = request(&multipart_type(), body).await;
        let mut kept = Kept::default();
        let got = read(&req, payload, &limits(4096), &mut kept).await;
        assert_eq!(got.problem, Some(BodyError::Broken));
        assert_eq!(got.problem_field.as_deref(), Some("files"));
        assert_eq!(got.drained_files, vec!["later.pdf".to_string()]);
        assert_eq!(got.form.get("b"), None);
        assert!(kept.abandoned && kept.files.is_empty());
    }
}
