//! The evidence files of a form: the body reader ([`crate::http::body`]) reads the form and
//! hands each file part here, to be cleaned of identifying metadata (when it can be) and
//! sealed chunk by chunk into pending database rows as it arrives. Limits are checked as
//! bytes arrive; on any problem every pending file of the request is deleted before the
//! caller answers.

use actix_web::{web, HttpRequest};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::envelope::Role;
use crate::crypto::ReportKey;
use crate::features::evidence::clean::{self, CleanError, Kind, Removed};
use crate::features::evidence::sealed::{body_context, FileMeta, FileSealer, Warning, CHUNK};
use crate::http::body::{self, BodyError, BodyLimits, FilePart, FileParts};
use crate::http::form::Form;
use crate::http::State;
use crate::ids;
use crate::storage::Store;

/// Files up to this size are cleaned in memory; larger ones (only possible when the
/// per-file limit is raised above it) are sealed as they come, with a warning.
pub const CLEAN_MAX: usize = 32 * 1024 * 1024;
/// File fields: cleaned, or kept exactly as chosen.
pub const FILES_FIELD: &str = "files";
pub const ORIGINAL_FIELD: &str = "files_original";
/// How long a pending file may live if its request dies without cleaning up.
const PENDING_SECONDS: i64 = 6 * 3600;
/// Files being cleaned at once, server-wide. A slot is taken only once a file has fully
/// arrived and held only while the cleaning runs (bounded by the file's size), so slow or
/// stalled uploads cannot hold one: four uploads trickling a byte every few seconds used to
/// make every cleanable upload wait.
static CLEANING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
/// Memory for files arriving to be cleaned, server-wide, in MiB: taken as bytes arrive, so a
/// trickling upload holds only what it sent (and the body's idle limit ends a stalled one).
static BUFFERED_MIB: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(256);
const MIB: usize = 1024 * 1024;
/// Plaintext handed to the sealer at a time when sealing a cleaned buffer.
const FEED: usize = 1024 * 1024;

/// Whose files these are and under which report key they are sealed.
pub struct Target<'a> {
    pub key: &'a ReportKey,
    pub report_id: &'a str,
    pub role: Role,
}

/// What this request may still upload.
#[derive(Debug, Clone)]
pub struct Limits {
    pub file_bytes: u64,
    pub files: usize,
    /// Left of the report's budget, in bytes of sealed chunks.
    pub report_bytes_left: u64,
    /// Bytes of all text fields together.
    pub text_bytes: usize,
    pub clean: bool,
}

impl Limits {
    /// The configured limits, less what the report already holds (`stored_chunks`).
    pub fn new(state: &State, stored_chunks: i64, text_bytes: usize) -> Limits {
        let l = &state.settings.limits;
        let used = u64::try_from(stored_chunks).unwrap_or(0).saturating_mul(CHUNK as u64);
        Limits {
            file_bytes: l.file_bytes(),
            files: l.files_per_message,
            report_bytes_left: l.report_bytes().saturating_sub(used),
            text_bytes,
            clean: l.clean_metadata,
        }
    }
}

/// Why a request's files were refused. Nothing of them is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// One file crossed the per-file limit (its name).
    FileTooLarge(String),
    TooManyFiles,
    /// The report's total would cross its limit.
    ReportFull,
    /// A chosen file had no bytes (its name).
    Empty(String),
    /// The text fields together were too long.
    TextTooLarge,
    /// The hour's budget for anonymous evidence is spent (see [`super::Budget`]).
    BudgetSpent,
    /// Too many files arriving at once to clean now; sending again later works.
    Busy,
    /// The request broke off or was not a readable form.
    Broken,
    /// A part's header was unreadable: a file name with a control character (a NUL byte).
    BadFileName,
    /// The database or the sealing failed.
    Store,
}

impl Problem {
    /// Limits answer 413, as the request as a whole was too large.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            Problem::FileTooLarge(_) | Problem::TooManyFiles | Problem::ReportFull | Problem::TextTooLarge
        )
    }
}

/// The body reader's problems: the text (or the body as a whole) was too large, or the
/// request broke off or was not a readable form.
impl From<BodyError> for Problem {
    fn from(e: BodyError) -> Problem {
        match e {
            BodyError::TooLarge => Problem::TextTooLarge,
            BodyError::Broken => Problem::Broken,
            BodyError::BadPartHeader => Problem::BadFileName,
        }
    }
}

/// A file that was stored (pending until the report or message is stored).
pub struct Uploaded {
    pub id: String,
    pub meta: FileMeta,
}

/// The form and the files of one request.
#[derive(Default)]
pub struct Upload {
    pub form: Form,
    pub files: Vec<Uploaded>,
    /// (name, name of the identical file it duplicated): stored once.
    pub duplicates: Vec<(String, String)>,
    /// The name of every file chosen, kept or not, to ask for them again by name.
    pub chosen: Vec<String>,
    /// The problem was with a file in the "keep untouched" field.
    pub problem_in_original: bool,
    pub problem: Option<Problem>,
    /// Set once files were stored, so a request that ends any other way deletes them.
    store: Option<Store>,
    /// Bytes this request took from the anonymous evidence budget, and when: given back
    /// unless the files are attached ([`Upload::committed`]).
    budget_taken: Option<(State, u64, i64)>,
}

impl Upload {
    /// What was taken from the anonymous evidence budget goes back: nothing was stored.
    fn give_back_budget(&mut self) {
        if let Some((state, n, at)) = self.budget_taken.take() {
            state.evidence_budget.give_back(n, at);
        }
    }
}

impl Drop for Upload {
    /// Pending files of a request that returned early (an error page, a dropped handler)
    /// are deleted here; attached files are untouched, as discarding skips them.
    fn drop(&mut self) {
        self.give_back_budget();
        let ids = self.ids();
        if ids.is_empty() {
            return;
        }
        if let (Some(store), Ok(rt)) = (self.store.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                if let Err(e) = store.files_discard(&ids).await {
                    tracing::error!(error = %e, "deleting pending evidence files failed");
                }
            });
        }
    }
}

impl Upload {
    pub fn ids(&self) -> Vec<String> {
        self.files.iter().map(|f| f.id.clone()).collect()
    }

    /// The files are attached now: nothing is left to delete, and their bytes stay counted.
    pub fn committed(&mut self) {
        self.store = None;
        self.budget_taken = None;
    }

    /// Deletes the pending files, when the form is refused after they were stored, and gives
    /// their bytes back to the hour's budget.
    pub async fn discard(&mut self, store: &Store) {
        self.give_back_budget();
        let ids = self.ids();
        self.files.clear();
        if let Err(e) = store.files_discard(&ids).await {
            // The sweeper deletes them later; they are sealed meanwhile.
            tracing::error!(error = %e, "deleting pending evidence files failed");
        }
    }
}

/// Reads the request body: `multipart/form-data` with files, or a plain urlencoded form.
/// Without a `target` (no report key to seal under) files are read and dropped.
pub async fn read(
    state: &State,
    req: &HttpRequest,
    payload: web::Payload,
    target: Option<Target<'_>>,
    limits: &Limits,
) -> Upload {
    let budget = target
        .as_ref()
        .filter(|t| t.role == Role::Reporter)
        .map(|_| &state.evidence_budget);
    let mut files = Files {
        background: state.background.clone(),
        store: &state.store,
        now: state.clock.now(),
        target,
        limits: limits.clone(),
        up: Upload::default(),
        created: Vec::new(),
        digests: Vec::new(),
        counted: 0,
        budget_used: 0,
        budget,
        taken: std::cell::Cell::new(0),
    };
    let body_limits = BodyLimits {
        text_bytes: limits.text_bytes,
        files: limits.files,
        file_bytes: limits.file_bytes,
        files_bytes: limits.report_bytes_left,
    };
    let body = body::read(req, payload, &body_limits, &mut files).await;
    let (taken, taken_at) = (files.taken.get(), files.now);
    let mut up = files.up;
    if taken > 0 {
        up.budget_taken = Some((state.clone(), taken, taken_at));
    }
    if body.problem.is_some() {
        // Every file of the request was abandoned: none of its bytes were stored.
        up.give_back_budget();
    }
    up.form = body.form;
    up.problem = body.problem;
    up.problem_in_original = body.problem_field.as_deref() == Some(ORIGINAL_FIELD);
    up.chosen.extend(body.drained_files.iter().map(|name| clean_name(name)));
    up.store = Some(state.store.clone());
    up
}

/// The evidence side of one request's file parts.
struct Files<'a> {
    background: tokio::runtime::Handle,
    store: &'a Store,
    now: i64,
    target: Option<Target<'a>>,
    limits: Limits,
    /// The files (the form, the problem come from the body reader).
    up: Upload,
    /// Every pending file row written by this request, for clean-up.
    created: Vec<String>,
    /// SHA-256 of each stored file's plaintext, in memory only, to spot duplicates.
    digests: Vec<([u8; 32], String)>,
    counted: usize,
    budget_used: u64,
    /// The anonymous budget, for a reporter's files (none for a coordinator's).
    budget: Option<&'a crate::throttle::Budget>,
    /// Bytes taken from it by this request so far.
    taken: std::cell::Cell<u64>,
}

type FieldResult = Result<(), Problem>;

impl FileParts for Files<'_> {
    type Problem = Problem;

    fn wants(&self, name: &str) -> bool {
        name == FILES_FIELD || name == ORIGINAL_FIELD
    }

    async fn file(&mut self, mut part: FilePart<'_>) -> FieldResult {
        let keep_original = part.name() == ORIGINAL_FIELD;
        let file_name = part.file_name().to_string();
        let name = clean_name(&file_name);
        if !file_name.is_empty() {
            self.up.chosen.push(name.clone());
        }
        // The first bytes decide the format; browsers send an empty part when no file was chosen.
        let mut head = Zeroizing::new(Vec::new());
        while head.len() < 64 {
            match part.next_bytes().await? {
                Some(bytes) => head.extend_from_slice(&bytes),
                None => break,
            }
        }
        if head.is_empty() {
            return if file_name.is_empty() {
                Ok(())
            } else {
                Err(Problem::Empty(name))
            };
        }
        let Some(target) = self.target.as_ref() else {
            part.drain().await?;
            return Ok(());
        };
        self.counted += 1;
        if self.counted > self.limits.files {
            return Err(Problem::TooManyFiles);
        }
        let taken_before = self.taken.get();
        self.spend(head.len())?;
        let kind = match clean::sniff(&head, &name) {
            // A ".txt" that is not text (a renamed binary, with a NUL or broken UTF-8 in its
            // first bytes) is not called free of hidden data.
            Kind::Text if !looks_like_text(&head) => Kind::Other,
            kind => kind,
        };
        let mut sink = Sink::new(target, self.store, &self.background, self.now, self.counted as i64).await?;
        self.created.push(sink.id.clone());
        let filled = self.fill(&mut part, &mut sink, head, &name, kind, keep_original).await;
        let (removed, warning) = match filled {
            Ok(v) => v,
            Err(problem) => {
                // Let the writer finish before the request's pending rows are deleted.
                sink.stop().await;
                return Err(problem);
            }
        };
        let meta = FileMeta {
            name,
            kind,
            size: sink.size(),
            removed,
            warning,
        };
        let (id, digest) = sink.finish(&meta).await?;
        self.budget_used += meta.size.div_ceil(CHUNK as u64) * CHUNK as u64;
        if let Some((_, first)) = self.digests.iter().find(|(d, _)| *d == digest) {
            // The same file twice in one message: keep it once and say so.
            self.up.duplicates.push((meta.name.clone(), first.clone()));
            self.store
                .files_discard(std::slice::from_ref(&id))
                .await
                .map_err(|_| Problem::Store)?;
            self.created.retain(|c| *c != id);
            self.counted -= 1;
            self.budget_used -= meta.size.div_ceil(CHUNK as u64) * CHUNK as u64;
            // Stored once: the second copy's bytes go back to the hour's budget.
            if let Some(b) = self.budget {
                b.give_back(self.taken.get() - taken_before, self.now);
            }
            self.taken.set(taken_before);
            return Ok(());
        }
        self.digests.push((digest, meta.name.clone()));
        self.up.files.push(Uploaded { id, meta });
        Ok(())
    }

    /// After a problem, once the body is drained: every pending file of the request goes.
    async fn abandon(&mut self) {
        let created = std::mem::take(&mut self.created);
        if let Err(e) = self.store.files_discard(&created).await {
            tracing::error!(error = %e, "deleting pending evidence files failed");
        }
        self.up.files.clear();
    }
}

impl Files<'_> {
    /// Reads the rest of a file into `sink`, cleaning it first when it can and should.
    async fn fill(
        &self,
        part: &mut FilePart<'_>,
        sink: &mut Sink<'_>,
        head: Zeroizing<Vec<u8>>,
        name: &str,
        kind: Kind,
        keep_original: bool,
    ) -> Result<(Vec<Removed>, Warning), Problem> {
        let mut warning = if keep_original {
            Warning::KeptOriginal
        } else if !self.limits.clean {
            Warning::CleaningOff
        } else if !(clean::cleanable(kind) || kind == Kind::Text) {
            Warning::CannotClean
        } else {
            Warning::None
        };
        let mut removed = Vec::new();
        let wants_clean = self.limits.clean && !keep_original;
        let mut size = head.len() as u64;
        self.check_size(name, size)?;
        if wants_clean && clean::cleanable(kind) {
            // Cleaning needs the whole file; it is held in memory (bounded by CLEAN_MAX and,
            // server-wide, by BUFFERED_MIB, taken as it grows).
            let mut memory = buffer_memory().await?;
            let mut buf = head;
            let mut too_big = false;
            while let Some(bytes) = part.next_bytes().await? {
                size += bytes.len() as u64;
                self.check_size(name, size)?;
                self.spend(bytes.len())?;
                if too_big {
                    sink.push(&bytes).await?;
                    continue;
                }
                buf.extend_from_slice(&bytes);
                while buf.len() > memory.num_permits() * MIB && buf.len() <= CLEAN_MAX {
                    memory.merge(buffer_memory().await?);
                }
                if buf.len() > CLEAN_MAX {
                    too_big = true;
                    warning = Warning::TooLargeToClean;
                    for piece in buf.chunks(FEED) {
                        sink.push(piece).await?;
                    }
                    buf = Zeroizing::new(Vec::new());
                    drop(memory);
                    memory = buffer_memory().await?;
                }
            }
            if !too_big {
                // The whole file is here: only now wait for a cleaning slot.
                let _slot = CLEANING.acquire().await.map_err(|_| Problem::Store)?;
                let (bytes, found, w) = clean_blocking(kind, buf).await;
                removed = found;
                warning = w;
                for piece in bytes.chunks(FEED) {
                    sink.push(piece).await?;
                }
            }
        } else {
            sink.push(&head).await?;
            while let Some(bytes) = part.next_bytes().await? {
                size += bytes.len() as u64;
                self.check_size(name, size)?;
                self.spend(bytes.len())?;
                sink.push(&bytes).await?;
            }
        }
        Ok((removed, warning))
    }

    /// Counts a reporter's arriving bytes against the hour's anonymous budget.
    fn spend(&self, n: usize) -> FieldResult {
        match self.budget {
            Some(b) if !b.take(n as u64, self.now) => Err(Problem::BudgetSpent),
            Some(_) => {
                self.taken.set(self.taken.get() + n as u64);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Stops the upload the moment a file or the report's total crosses its limit.
    fn check_size(&self, name: &str, size: u64) -> FieldResult {
        if size > self.limits.file_bytes {
            return Err(Problem::FileTooLarge(name.to_string()));
        }
        let sealed = size.div_ceil(CHUNK as u64) * CHUNK as u64;
        if self.budget_used + sealed > self.limits.report_bytes_left {
            return Err(Problem::ReportFull);
        }
        Ok(())
    }
}

/// Valid UTF-8 without NUL bytes (a multi-byte character cut off at the end is fine).
fn looks_like_text(head: &[u8]) -> bool {
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    utf8 && !head.contains(&0)
}

/// One more MiB of [`BUFFERED_MIB`]. Uploads holding part of it while waiting for more could
/// otherwise wait on each other for ever: past a short wait the upload is refused as busy
/// (text kept), and what it held is given back.
async fn buffer_memory() -> Result<tokio::sync::SemaphorePermit<'static>, Problem> {
    match tokio::time::timeout(std::time::Duration::from_secs(20), BUFFERED_MIB.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(Problem::Store),
        Err(_) => Err(Problem::Busy),
    }
}

/// Cleans off the async workers (parsing a large PDF takes a while).
async fn clean_blocking(kind: Kind, buf: Zeroizing<Vec<u8>>) -> (Zeroizing<Vec<u8>>, Vec<Removed>, Warning) {
    let done = tokio::task::spawn_blocking(move || match clean::clean(kind, &buf) {
        Ok(cleaned) => (Zeroizing::new(cleaned.bytes), cleaned.removed, Warning::None),
        Err(CleanError::Unreadable(_)) => (buf, vec![], Warning::Unreadable),
        Err(CleanError::Unsupported) => (buf, vec![], Warning::CannotClean),
    })
    .await;
    match done {
        Ok(v) => v,
        // A panic inside a format crate: nothing to store; an empty result makes the sealer refuse.
        Err(_) => (Zeroizing::new(Vec::new()), vec![], Warning::Unreadable),
    }
}

/// Sealed segments waiting for the database, per file: a few, so receiving and sealing
/// go on while the previous ones are written (and memory stays bounded).
const QUEUED_SEGMENTS: usize = 4;

/// One pending file being written. Segments go to a writer task that stores them in
/// batches (one transaction, so one sync, per batch).
struct Sink<'a> {
    id: String,
    fid: [u8; 16],
    rid: [u8; 16],
    key: &'a ReportKey,
    role: Role,
    store: &'a Store,
    sealer: Option<FileSealer>,
    hasher: Sha256,
    queue: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    /// Stored segments coming back from the writer, to be filled again.
    used: std::sync::mpsc::Receiver<Vec<u8>>,
    writer: Option<tokio::task::JoinHandle<Result<(), sqlx::Error>>>,
}

/// Stores the segments `queue` brings, in batches, and hands each buffer back on `used`
/// for the sealer to fill again.
async fn write_segments(
    store: Store,
    file_id: String,
    mut queue: tokio::sync::mpsc::Receiver<Vec<u8>>,
    used: std::sync::mpsc::Sender<Vec<u8>>,
) -> Result<(), sqlx::Error> {
    let mut seq = 0i64;
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < QUEUED_SEGMENTS {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        store.file_put_segments(&file_id, seq, &batch).await?;
        seq += batch.len() as i64;
        for segment in batch {
            // The sealer may be gone (it finished or stopped): then the buffer is dropped.
            let _ = used.send(segment);
        }
    }
    Ok(())
}

impl<'a> Sink<'a> {
    async fn new(
        target: &'a Target<'a>,
        store: &'a Store,
        background: &tokio::runtime::Handle,
        now: i64,
        position: i64,
    ) -> Result<Sink<'a>, Problem> {
        let rid = ids::parse(target.report_id).ok_or(Problem::Store)?;
        let (id, fid) = ids::new_id();
        let (sealer, header) = FileSealer::new(target.key, &body_context(rid, fid, target.role));
        let role = crate::domain::thread::role_str(target.role);
        store
            // Rounded to the hour: the row must not date the reporter's upload to the second.
            .file_begin(
                &id,
                target.report_id,
                position,
                &role,
                &header,
                (now + PENDING_SECONDS) / 3600 * 3600 + 3600,
            )
            .await
            .map_err(|_| Problem::Store)?;
        let (queue, rx) = tokio::sync::mpsc::channel(QUEUED_SEGMENTS);
        // On the multi-threaded runtime: each insert needs a poll between statements, and the
        // request thread is busy sealing the next segments meanwhile.
        let (give_back, used) = std::sync::mpsc::channel();
        let writer = background.spawn(write_segments(store.clone(), id.clone(), rx, give_back));
        Ok(Sink {
            id,
            fid,
            rid,
            key: target.key,
            role: target.role,
            store,
            sealer: Some(sealer),
            hasher: Sha256::new(),
            queue: Some(queue),
            used,
            writer: Some(writer),
        })
    }

    fn size(&self) -> u64 {
        self.sealer.as_ref().map_or(0, FileSealer::size)
    }

    async fn push(&mut self, data: &[u8]) -> FieldResult {
        self.hasher.update(data);
        let sealer = self.sealer.as_mut().ok_or(Problem::Store)?;
        while let Ok(buffer) = self.used.try_recv() {
            sealer.recycle(buffer);
        }
        for segment in sealer.push(data).map_err(|_| Problem::Store)? {
            self.put(segment).await?;
        }
        Ok(())
    }

    async fn put(&mut self, segment: Vec<u8>) -> FieldResult {
        let queue = self.queue.as_ref().ok_or(Problem::Store)?;
        // A send fails only when the writer stopped on a database error.
        queue.send(segment).await.map_err(|_| Problem::Store)
    }

    /// Closes the queue and waits until the writer has stored (or given up on) everything.
    async fn drain_writer(&mut self) -> Result<(), Problem> {
        self.queue = None;
        match self.writer.take() {
            Some(writer) => match writer.await {
                Ok(Ok(())) => Ok(()),
                _ => Err(Problem::Store),
            },
            None => Err(Problem::Store),
        }
    }

    /// Stops after a problem; the caller deletes the pending rows.
    async fn stop(&mut self) {
        let _ = self.drain_writer().await;
    }

    async fn finish(mut self, meta: &FileMeta) -> Result<(String, [u8; 32]), Problem> {
        let sealer = self.sealer.take().ok_or(Problem::Store)?;
        let (last, chunks) = sealer.finish().map_err(|_| Problem::Store)?;
        self.put(last).await?;
        self.drain_writer().await?;
        let sealed = meta.seal(self.key, self.rid, self.fid, self.role);
        self.store
            .file_finish(&self.id, &sealed, i64::try_from(chunks).map_err(|_| Problem::Store)?)
            .await
            .map_err(|_| Problem::Store)?;
        Ok((self.id, self.hasher.finalize().into()))
    }
}

/// The name to keep: no folders, no control or invisible characters (a right-to-left
/// override or zero-width space could disguise a file's type), at most 120 characters.
pub fn clean_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = base
        .chars()
        .filter(|c| !c.is_control() && !crate::http::form::is_invisible(*c) && !matches!(c, '"' | '<' | '>'))
        .take(120)
        .collect();
    let name = name.trim().to_string();
    if name.is_empty() || name == "." || name == ".." {
        "bestand".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_lose_folders_and_controls() {
        assert_eq!(clean_name("C:\\Users\\jan\\memo.docx"), "memo.docx");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\u{0}b\nc.pdf"), "abc.pdf");
        assert_eq!(clean_name("evil\u{202E}fdp.exe"), "evilfdp.exe");
        assert_eq!(clean_name("\u{FEFF}rap\u{200B}port\u{200F}.pdf"), "rapport.pdf");
        assert_eq!(clean_name(""), "bestand");
        assert_eq!(clean_name("x".repeat(500).as_str()).len(), 120);
    }
}
