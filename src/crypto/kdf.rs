//! Argon2id with the server pepper, run on a bounded blocking pool so a burst of
//! submissions or logins queues instead of stalling the async workers; the queue is bounded
//! and shared fairly between new reports, meldcode entry and staff logins. Also owns the
//! pepper key file. Never logs passwords, codes or derived keys.

use std::path::Path;
use std::sync::Arc;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use rand::RngCore;
use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::oneshot;
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, Key32};

/// Argon2id cost parameters; recorded in every blob they protect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    /// OWASP's floor for Argon2id: 19 MiB, 2 passes, 1 lane. Nothing weaker is accepted,
    /// neither from the config nor from a stored header.
    pub const FLOOR: KdfParams = KdfParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    pub fn meets_floor(&self) -> bool {
        self.memory_kib >= Self::FLOOR.memory_kib
            && self.iterations >= Self::FLOOR.iterations
            && self.parallelism >= 1
            // Upper bounds keep a forged header from making us allocate gigabytes.
            && self.memory_kib <= 4 * 1024 * 1024
            && self.iterations <= 64
            && self.parallelism <= 16
    }
}

/// The server pepper: 32 random bytes in a key file beside the database, mixed into every
/// Argon2id call as its secret, so a stolen database or backup alone cannot be attacked.
pub struct Pepper(Key32);

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(***)")
    }
}

impl Pepper {
    pub fn from_key(key: Key32) -> Self {
        Pepper(key)
    }

    /// Reads the key file, or creates it (mode 0600) when `may_create` says the database
    /// holds nothing the pepper would be needed for.
    pub fn load_or_create(path: &Path, may_create: bool) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                refuse_if_shared(path)?;
                let key = Key32::from_slice(&bytes)
                    .map_err(|_| anyhow::anyhow!("pepper file {} is not 32 bytes long", path.display()))?;
                Ok(Pepper(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !may_create {
                    anyhow::bail!(
                        "the pepper file {} is missing but the database already holds accounts; \
                         restore it from the copy kept with the recovery key",
                        path.display()
                    );
                }
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let key = Key32::random();
                write_private_file(path, key.as_bytes())?;
                tracing::info!(path = %path.display(), "created a new pepper file; keep a copy with the recovery key");
                Ok(Pepper(key))
            }
            Err(e) => Err(anyhow::anyhow!("cannot read pepper file {}: {e}", path.display())),
        }
    }
}

const ORG_KEY_HEADER: [u8; 3] = [
    super::envelope::FORMAT_V1,
    super::envelope::ALG_XCHACHA20POLY1305,
    super::envelope::KeySource::Subkey as u8,
];

fn organisation_context(org: i64) -> super::envelope::Context {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&org.to_be_bytes());
    super::envelope::Context::new(super::envelope::Purpose::OrganisationKey).record(id)
}

/// A pepper others on the machine can read is a pepper an attacker with a stolen backup may
/// also get: refuse it, saying how to fix it.
fn refuse_if_shared(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("cannot read pepper file {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the pepper file {} can be read or written by other users (mode {:o}); make it private: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(())
}

impl Pepper {
    /// A new random secret: an organisation's own pepper.
    pub fn random() -> Self {
        Pepper(Key32::random())
    }

    /// `org`'s secret sealed under this (the installation's) pepper, bound to the
    /// organisation's id so one organisation's sealed secret cannot pass for another's.
    pub fn seal_organisation_key(&self, org: i64, secret: &Pepper) -> Vec<u8> {
        let ctx = organisation_context(org);
        let key = super::envelope::derive(self.0.as_bytes(), None, &ctx);
        super::envelope::seal_raw(&key, &ORG_KEY_HEADER, &ctx, secret.0.as_bytes())
    }

    /// Opens what [`Pepper::seal_organisation_key`] made.
    pub fn open_organisation_key(&self, org: i64, sealed: &[u8]) -> Result<Pepper, CryptoError> {
        super::envelope::check_header(sealed, super::envelope::KeySource::Subkey)?;
        let ctx = organisation_context(org);
        let key = super::envelope::derive(self.0.as_bytes(), None, &ctx);
        let bytes = super::envelope::open_raw(&key, sealed, ORG_KEY_HEADER.len(), &ctx)?;
        Ok(Pepper(Key32::from_slice(&bytes)?))
    }

    /// The secret's bytes, for sealing it into an export under another key.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// A value that tells whether a pepper file is the one a database was used with. Keyed
    /// by the pepper (HKDF-SHA256), so it gives nothing towards the pepper itself.
    pub fn check_value(&self) -> [u8; 32] {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"meldpunt pepper check v1"), self.0.as_bytes());
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF's output limit, so this cannot fail.
        let _ = hk.expand(b"pepper check", &mut out);
        out
    }
}

fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    sync_folder_of(path)
}

/// Syncs the folder a file was just created in (or renamed into), so the file's name
/// survives a power cut too, not only its bytes.
pub fn sync_folder_of(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Who asks for a derivation. Each kind waits in its own queue and the pool serves the
/// queues in turn, so a flood of one kind (reports, guessed codes, logins) cannot lock the
/// others out: it slows them by at most one derivation per turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A new report: the key under its meldcode.
    Report = 0,
    /// A reporter opening a report with a meldcode.
    Code = 1,
    /// Coordinators: login, password change, set-up, recovery.
    Staff = 2,
    /// A reporter opening a report with a meldcode whose form carried a valid proof of work
    /// ([`crate::pow`]): waits in a queue of its own that is served before [`Lane::Code`]
    /// in the code kind's turn. A flood of wrong codes without proofs fills only the
    /// ordinary queue, so a reporter whose browser ran the script gets in; a flooder who
    /// wants this queue pays the proof's CPU for every request.
    CodeProven = 3,
}

impl Lane {
    /// The queues a kind's turn serves, in order: the proven code queue before the
    /// ordinary one, inside the code kind's turn (so proofs never starve reports or logins).
    fn queues(kind: usize) -> &'static [usize] {
        match kind {
            1 => &[Lane::CodeProven as usize, Lane::Code as usize],
            0 => &[Lane::Report as usize],
            _ => &[Lane::Staff as usize],
        }
    }
}

/// Kinds served in turn (reports, codes, staff); the code kind has two queues.
const LANES: usize = 3;
/// Queues: one per [`Lane`].
const QUEUES: usize = 4;

/// The permits of the pool and the queues in front of them.
struct Gate {
    state: Mutex<GateState>,
    /// The most derivations that may wait per lane; beyond it a request is refused at once.
    queue_max: usize,
}

struct GateState {
    free: usize,
    waiting: [VecDeque<oneshot::Sender<()>>; QUEUES],
    /// The lane served first when a permit comes free.
    next: usize,
}

impl Gate {
    fn new(size: usize, queue_max: usize) -> Gate {
        Gate {
            state: Mutex::new(GateState {
                free: size.max(1),
                waiting: Default::default(),
                next: 0,
            }),
            queue_max: queue_max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // A poisoned lock means a panic elsewhere while holding it; the counts are still
        // consistent (every change is one statement).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn enter(self: &Arc<Self>, lane: Lane) -> Result<Pass, CryptoError> {
        let rx = {
            let mut s = self.lock();
            if s.free > 0 && s.waiting.iter().all(VecDeque::is_empty) {
                s.free -= 1;
                return Ok(Pass(self.clone()));
            }
            let queue = &mut s.waiting[lane as usize];
            // Senders of requests that went away still count until a release skips them.
            queue.retain(|tx| !tx.is_closed());
            if queue.len() >= self.queue_max {
                return Err(CryptoError::Busy);
            }
            let (tx, rx) = oneshot::channel();
            queue.push_back(tx);
            rx
        };
        let mut waiter = Waiter {
            rx,
            gate: self.clone(),
            admitted: false,
        };
        (&mut waiter.rx)
            .await
            .map_err(|_| CryptoError::Kdf("pool closed".into()))?;
        waiter.admitted = true;
        Ok(Pass(self.clone()))
    }

    /// A permit comes free: hand it to the next waiting request, lanes in turn.
    fn release(&self) {
        let mut s = self.lock();
        for step in 0..LANES {
            let kind = (s.next + step) % LANES;
            for &queue in Lane::queues(kind) {
                while let Some(tx) = s.waiting[queue].pop_front() {
                    if tx.send(()).is_ok() {
                        s.next = (kind + 1) % LANES;
                        return;
                    }
                }
            }
        }
        s.free += 1;
    }
}

/// A permit: released when dropped.
struct Pass(Arc<Gate>);

impl Drop for Pass {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A request waiting for a permit. Dropped (the browser went away) after a permit was
/// handed to it but before it woke, it passes the permit on.
struct Waiter {
    rx: oneshot::Receiver<()>,
    gate: Arc<Gate>,
    admitted: bool,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if !self.admitted {
            self.rx.close();
            if self.rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

/// Runs Argon2id on at most `size` blocking threads at a time, each with a working memory
/// taken from a set kept for the pool: memory stays at `size` x the cost, instead of a fresh
/// allocation per derivation that the allocator keeps after it is freed (the server grew
/// to gigabytes under a rush of reporters and never gave it back).
///
/// Each organisation of an installation has a pool of its own ([`KdfPool::for_organisation`]):
/// its own pepper and its own queues, so one organisation's flood fills only its own queues.
/// The threads and working memory are the installation's: a derivation that passed its
/// organisation's gate waits (first come, first served) for one of the `size` threads, and
/// an organisation never has more than `size` derivations in that line.
#[derive(Clone)]
pub struct KdfPool {
    gate: Arc<Gate>,
    pepper: Arc<Pepper>,
    memory: Arc<Mutex<Working>>,
    threads: Arc<tokio::sync::Semaphore>,
    size: usize,
    pub params: KdfParams,
}

/// The pool's working memory: one set of Argon2 blocks per permit that has run, and when a
/// set was last given back (so a quiet server can return the memory).
struct Working {
    sets: Vec<Vec<Block>>,
    returned_at: std::time::Instant,
}

impl Default for Working {
    fn default() -> Self {
        Working {
            sets: Vec::new(),
            returned_at: std::time::Instant::now(),
        }
    }
}

impl KdfPool {
    /// `queue_max` derivations may wait per [`Lane`]; more are refused with
    /// [`CryptoError::Busy`].
    pub fn new(pepper: Pepper, params: KdfParams, size: usize, queue_max: usize) -> Self {
        KdfPool {
            gate: Arc::new(Gate::new(size, queue_max)),
            pepper: Arc::new(pepper),
            memory: Arc::default(),
            threads: Arc::new(tokio::sync::Semaphore::new(size.max(1))),
            size: size.max(1),
            params,
        }
    }

    /// A pool for another organisation of the same installation: its own pepper and queues
    /// (as long as this pool's), the same threads and working memory.
    pub fn for_organisation(&self, pepper: Pepper) -> Self {
        KdfPool {
            gate: Arc::new(Gate::new(self.size, self.gate.queue_max)),
            pepper: Arc::new(pepper),
            memory: self.memory.clone(),
            threads: self.threads.clone(),
            size: self.size,
            params: self.params,
        }
    }

    /// A keyed digest of `data` under the pepper (HMAC-SHA256 through HKDF-Extract, expanded
    /// for `label`): for values with modest entropy, such as recovery codes, so a stolen
    /// database alone cannot test guesses against them.
    pub fn keyed_digest(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(data), self.pepper.0.as_bytes());
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF's output limit, so this cannot fail.
        let _ = hk.expand(label, &mut out);
        out
    }

    /// Gives the working memory back when no derivation has finished for `quiet`: an idle
    /// server then holds no Argon2 blocks (19 MiB each); the next derivation allocates
    /// again. The blocks are zeroed first, as they held state derived from secrets. Returns
    /// how many sets were released.
    pub fn release_idle_memory(&self, quiet: std::time::Duration) -> usize {
        let mut working = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if working.returned_at.elapsed() < quiet {
            return 0;
        }
        let mut sets = std::mem::take(&mut working.sets);
        drop(working);
        for set in &mut sets {
            set.zeroize();
        }
        sets.len()
    }

    /// Derives a 32-byte key from `secret` and `salt`, with the given (stored) parameters.
    pub async fn derive(
        &self,
        lane: Lane,
        secret: Zeroizing<Vec<u8>>,
        salt: [u8; 16],
        params: KdfParams,
    ) -> Result<Key32, CryptoError> {
        if !params.meets_floor() {
            return Err(CryptoError::Kdf("parameters outside the accepted range".into()));
        }
        let permit = self.gate.enter(lane).await?;
        let thread = self
            .threads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CryptoError::Kdf("pool closed".into()))?;
        let pepper = self.pepper.clone();
        let memory = self.memory.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _thread = thread;
            let _entered = span.enter();
            // One set of blocks per permit at most: a permit holder takes one (or makes the
            // first) and puts it back. A poisoned lock only means another derivation
            // panicked; the blocks are plain memory and still fine to use.
            let taken = memory.lock().unwrap_or_else(|p| p.into_inner()).sets.pop();
            let mut blocks = taken.unwrap_or_default();
            let result = derive_blocking(&pepper, &secret, &salt, params, &mut blocks);
            let mut working = memory.lock().unwrap_or_else(|p| p.into_inner());
            working.sets.push(blocks);
            working.returned_at = std::time::Instant::now();
            result
        })
        .await
        .map_err(|e| CryptoError::Kdf(e.to_string()))?
    }
}

fn derive_blocking(
    pepper: &Pepper,
    secret: &[u8],
    salt: &[u8; 16],
    p: KdfParams,
    blocks: &mut Vec<Block>,
) -> Result<Key32, CryptoError> {
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    // A record made with a larger memory cost than the blocks have grows them, for good.
    if blocks.len() < params.block_count() {
        blocks.resize(params.block_count(), Block::default());
    }
    let argon = Argon2::new_with_secret(pepper.0.as_bytes(), Algorithm::Argon2id, Version::V0x13, params)
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    // Every block the derivation reads it has written first in this run, so what the last
    // derivation left there does not matter to the result.
    argon
        .hash_password_into_with_memory(secret, salt, out.as_mut(), blocks.as_mut_slice())
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    Ok(Key32::from_bytes(*out))
}

/// A random 16-byte salt.
pub fn random_salt() -> [u8; 16] {
    let mut s = [0u8; 16];
    OsRng.fill_bytes(&mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn derivation_depends_on_secret_salt_and_pepper() {
        let pool = KdfPool::new(Pepper(Key32::from_bytes([1; 32])), KdfParams::FLOOR, 2, 8);
        let other = KdfPool::new(Pepper(Key32::from_bytes([2; 32])), KdfParams::FLOOR, 2, 8);
        let s = || Zeroizing::new(b"correct horse battery".to_vec());
        let a = pool.derive(Lane::Code, s(), [0; 16], KdfParams::FLOOR).await.unwrap();
        let b = pool.derive(Lane::Code, s(), [0; 16], KdfParams::FLOOR).await.unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        let c = pool.derive(Lane::Code, s(), [1; 16], KdfParams::FLOOR).await.unwrap();
        assert_ne!(a.as_bytes(), c.as_bytes());
        let d = other.derive(Lane::Code, s(), [0; 16], KdfParams::FLOOR).await.unwrap();
        assert_ne!(a.as_bytes(), d.as_bytes());
    }

    /// Working memory reused from an earlier derivation (of other inputs, with a larger or
    /// smaller cost) gives the same key as fresh memory.
    #[tokio::test]
    async fn reused_working_memory_changes_nothing() {
        let pepper = Key32::from_bytes([3; 32]);
        let pool = KdfPool::new(Pepper(Key32::from_bytes([3; 32])), KdfParams::FLOOR, 1, 8);
        let larger = KdfParams {
            memory_kib: KdfParams::FLOOR.memory_kib * 2,
            ..KdfParams::FLOOR
        };
        let fresh = |secret: &[u8], p: KdfParams| {
            let params = Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32)).unwrap();
            let argon =
                Argon2::new_with_secret(pepper.as_bytes(), Algorithm::Argon2id, Version::V0x13, params).unwrap();
            let mut out = [0u8; 32];
            argon.hash_password_into(secret, &[5; 16], &mut out).unwrap();
            out
        };
        for (secret, p) in [
            (&b"eerste"[..], KdfParams::FLOOR),
            (b"tweede", larger),
            (b"derde", KdfParams::FLOOR),
            (b"eerste", KdfParams::FLOOR),
        ] {
            let got = pool
                .derive(Lane::Staff, Zeroizing::new(secret.to_vec()), [5; 16], p)
                .await
                .unwrap();
            assert_eq!(got.as_bytes(), &fresh(secret, p));
        }
        assert_eq!(
            pool.memory.lock().unwrap().sets.len(),
            1,
            "one permit, one set of blocks"
        );
        // Still busy a moment ago: kept. Quiet for long enough: given back, and the next
        // derivation makes a new set and gives the same answer.
        assert_eq!(pool.release_idle_memory(std::time::Duration::from_secs(60)), 0);
        assert_eq!(pool.release_idle_memory(std::time::Duration::ZERO), 1);
        assert!(pool.memory.lock().unwrap().sets.is_empty());
    }

    /// One thread, one waiting place per kind: a third request of the same kind is refused
    /// at once, another kind still gets its place, and requests that went away while waiting
    /// (a closed browser) give their turn on, so no permit is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_queue_is_bounded_per_kind_and_loses_no_permit() {
        let pool = KdfPool::new(Pepper(Key32::from_bytes([4; 32])), KdfParams::FLOOR, 1, 1);
        let s = || Zeroizing::new(b"code".to_vec());
        let running = tokio::spawn({
            let pool = pool.clone();
            async move { pool.derive(Lane::Report, s(), [0; 16], KdfParams::FLOOR).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.derive(Lane::Report, s(), [1; 16], KdfParams::FLOOR).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(matches!(
            pool.derive(Lane::Report, s(), [2; 16], KdfParams::FLOOR).await,
            Err(CryptoError::Busy)
        ));
        // A code entry that gives up while it waits.
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(1),
            pool.derive(Lane::Code, s(), [3; 16], KdfParams::FLOOR),
        )
        .await;
        assert!(gave_up.is_err());
        running.await.unwrap().unwrap();
        waiting.await.unwrap().unwrap();
        // Everything is free again: two at once still work one after the other.
        let (a, b) = tokio::join!(
            pool.derive(Lane::Staff, s(), [4; 16], KdfParams::FLOOR),
            pool.derive(Lane::Code, s(), [5; 16], KdfParams::FLOOR)
        );
        a.unwrap();
        b.unwrap();
    }

    /// With the one permit taken, an ordinary code entry waiting first and a proven one
    /// second: the proven one is served first, and a full ordinary queue does not refuse it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn proven_code_entries_go_before_ordinary_ones() {
        let pool = KdfPool::new(Pepper(Key32::from_bytes([6; 32])), KdfParams::FLOOR, 1, 1);
        let held = pool.gate.enter(Lane::Staff).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiting = |lane: Lane, name: &'static str| {
            let (gate, order) = (pool.gate.clone(), order.clone());
            tokio::spawn(async move {
                let pass = gate.enter(lane).await.unwrap();
                order.lock().unwrap().push(name);
                drop(pass);
            })
        };
        let queued = |lane: Lane| pool.gate.lock().waiting[lane as usize].len();
        let ordinary = waiting(Lane::Code, "ordinary");
        while queued(Lane::Code) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.gate.enter(Lane::Code).await, Err(CryptoError::Busy)));
        let proven = waiting(Lane::CodeProven, "proven");
        while queued(Lane::CodeProven) == 0 {
            tokio::task::yield_now().await;
        }
        drop(held);
        ordinary.await.unwrap();
        proven.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["proven", "ordinary"]);
    }

    #[tokio::test]
    async fn parameters_below_the_floor_are_refused() {
        let pool = KdfPool::new(Pepper(Key32::random()), KdfParams::FLOOR, 1, 8);
        let weak = KdfParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        assert!(pool
            .derive(Lane::Staff, Zeroizing::new(vec![1]), [0; 16], weak)
            .await
            .is_err());
    }

    #[test]
    fn pepper_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/pepper.key");
        assert!(Pepper::load_or_create(&path, false).is_err());
        let p = Pepper::load_or_create(&path, true).unwrap();
        let q = Pepper::load_or_create(&path, false).unwrap();
        assert_eq!(p.0.as_bytes(), q.0.as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
