//! The agent's durable spool: every probe result is written here before it is pushed, and stays
//! until the collector has confirmed it.
//!
//! # Layout (`spool.dir`)
//! - `seg-000000000001.log`, ...: append-only segment files, named by the first sequence number
//!   they were opened for. Each record is
//!   `len: u32 LE | crc32(payload): u32 LE | payload`, with `payload = seq: u64 LE | JSON ProbeResult`.
//!   Sequence numbers strictly increase across segments (they may jump, see *Batches*).
//! - `cursor`: `{"acked_through": N}`, written atomically (temporary file, fsync, rename, fsync of
//!   the folder): everything with `seq <= N` was confirmed by the collector. Segments entirely at
//!   or below the cursor are deleted.
//! - `incarnation`: 16 lowercase hex digits (64 random bits) and a newline, naming this spool's
//!   life. Created when the folder is created, written atomically like the cursor, read back on
//!   every open and never changed afterwards. A spool folder that exists without one (made by an
//!   agent before incarnations, or whose file was removed) gets a fresh one on open, with a
//!   warning; so does one whose file is unreadable.
//! - `quarantine/`, `assignment.json`: written by [`crate::push`] and [`crate::assignment`].
//!
//! # Durability
//! Group commit. [`Spool::append`] writes its records with one `write()` (into the page cache)
//! and syncs (`fdatasync`) only when the last sync is `sync_interval` old or more; the agent's
//! writer task appends the results that arrive within [`GATHER`] (0.1 s) of a first one as one
//! call, and syncs what is still unsynced once `sync_interval` (default 1 s) has passed without
//! another append doing so. [`Spool::read_batch`] syncs before it hands out a batch, so nothing
//! is pushed (and then confirmed and deleted) that is not on disk. A SIGKILL loses nothing that
//! was appended: the page cache belongs to the kernel and survives the process (what it loses
//! are the probes in flight and at most the last [`GATHER`] of results, still in memory). A power loss loses at most the
//! results of the last `sync_interval`. `sync_interval: 0s` syncs every append (the behaviour
//! before group commit: about 4 KiB written to the device per result, since each sync cleans the
//! page the next result dirties again). A process killed mid-write leaves at most a torn record
//! at the tail: on
//! [`Spool::open`] a short header, a short payload, an impossible length, a bad checksum or a
//! sequence number that does not increase ends the segment there; the rest is cut off (logged,
//! never fatal) and every record before it is kept.
//!
//! # Bound
//! When the segments together exceed `max_bytes`, the oldest segment is deleted even though it
//! holds unconfirmed results; how many is added to `driftvakt_agent_spool_dropped_results_total`
//! and logged with the count.
//!
//! # Batches
//! A batch is at most one *window* of sequence numbers, `[k * batch_size, (k + 1) * batch_size)`,
//! and its id is `{agent}-{incarnation}-{first_seq}-{last_seq}`. Windows never span segments
//! (segments roll only at window boundaries). When the pusher takes the still-open window at the
//! tail (a partial batch), the spool *seals* it: later results start at the next window. Opening
//! the spool seals too. So the records of a window never change once any of them may have been
//! sent, and a batch re-sent after a crash or a restart carries the same id as before it (as long
//! as `batch_size` is unchanged), which lets the collector recognise it as a duplicate.
//!
//! Sequence numbers start at 1 again when the spool folder is lost (a new disk, a wiped
//! `/var/lib`); the incarnation is what keeps the new spool's ids apart from the old one's, so the
//! collector never mistakes new results for a batch it already has. Losing only the
//! `incarnation` file while segments survive gives their unconfirmed batches new ids: at worst a
//! batch that was delivered but not yet confirmed is delivered once more under a new id.
//!
//! # A folder removed under the running agent
//! Every segment stays open (one descriptor each) while the spool holds it, and records are read
//! through that descriptor, so a segment whose file was unlinked can still be read. Before each
//! append, read and confirmation the spool checks that its folder is still the one it opened (same
//! device and inode) and still holds its `incarnation` file; an append or a cursor write failing
//! with "not found" counts as the same. When the folder is gone or replaced the spool *resets*:
//! it makes the folder again with a new incarnation, copies every unconfirmed record it still
//! holds into new segments there (new sequence numbers from 1), counts the reset in
//! `driftvakt_agent_spool_resets_total` and logs an error. Confirmations of batches read before
//! the reset are ignored: their results go again under the new incarnation's ids (the collector
//! keeps one result per device, check and time, so a result delivered twice is stored once).

use crate::metrics::SpoolMetrics;
use chrono::{DateTime, Utc};
use driftvakt_common::wire::{Batch, ProbeResult};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes before a record's payload: length and checksum.
const HEADER: u64 = 8;
/// A length above this is corruption, not a record.
const MAX_RECORD: u32 = 16 << 20;
const CURSOR_FILE: &str = "cursor";
/// The file in the spool folder that holds the spool's incarnation id.
pub const INCARNATION_FILE: &str = "incarnation";

/// How big the spool may grow and how it cuts batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolOptions {
    /// Upper bound of all segment files together.
    pub max_bytes: u64,
    /// Results per batch; fixes the window boundaries.
    pub batch_size: usize,
    /// A segment is closed (at the next window boundary) once it is this big.
    pub segment_bytes: u64,
    /// Longest time appended records stay unsynced; zero syncs every append.
    pub sync_interval: Duration,
}

impl SpoolOptions {
    /// Segments of an eighth of `max_bytes` (between 4 KiB and 16 MiB); every append synced.
    pub fn new(max_bytes: u64, batch_size: usize) -> SpoolOptions {
        SpoolOptions {
            max_bytes,
            batch_size: batch_size.max(1),
            segment_bytes: (max_bytes / 8).clamp(4 << 10, 16 << 20),
            sync_interval: Duration::ZERO,
        }
    }

    /// The same with appends synced at most every `every` (group commit).
    pub fn with_sync_interval(self, every: Duration) -> SpoolOptions {
        SpoolOptions {
            sync_interval: every,
            ..self
        }
    }
}

/// A spool operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool: cannot encode a result: {0}")]
    Encode(#[from] serde_json::Error),
}

impl SpoolError {
    /// A file or the folder itself is missing.
    fn is_not_found(&self) -> bool {
        matches!(self, SpoolError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A torn or corrupt tail found and cut off when the spool was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub segment: PathBuf,
    /// Where the good records end (the file's new length).
    pub offset: u64,
    /// Bytes cut off.
    pub cut: u64,
    pub reason: &'static str,
}

/// One record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub result: ProbeResult,
}

/// Results read from the spool for one push.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolBatch {
    pub first_seq: u64,
    pub last_seq: u64,
    pub results: Vec<ProbeResult>,
    /// True when this was the open window at the tail (sealed by taking it).
    pub partial: bool,
    /// The incarnation of the spool the records were read from.
    pub incarnation: String,
    /// Records consumed, including any that could not be decoded.
    records: u64,
    segment: u64,
    end: u64,
}

impl SpoolBatch {
    /// `{agent}-{incarnation}-{first_seq}-{last_seq}`: the same records of the same spool always
    /// get the same id, and a new spool never reuses an old one's.
    pub fn id(&self, agent: &str) -> String {
        format!(
            "{agent}-{}-{}-{}",
            self.incarnation, self.first_seq, self.last_seq
        )
    }

    /// The wire batch.
    pub fn to_batch(&self, agent: &str) -> Batch {
        Batch {
            agent: agent.to_string(),
            batch_id: self.id(agent),
            results: self.results.clone(),
        }
    }
}

/// One segment file.
#[derive(Debug)]
struct Segment {
    first: u64,
    path: PathBuf,
    bytes: u64,
    count: u64,
    /// Records at or below the cursor.
    acked: u64,
    last_seq: Option<u64>,
    /// Open for reading while the spool holds the segment, so its records survive the file's
    /// removal (see *A folder removed under the running agent*).
    file: Arc<File>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    opts: SpoolOptions,
    incarnation: String,
    segments: VecDeque<Segment>,
    /// Open for appending to the last segment; none until the first append after opening.
    writer: Option<File>,
    next_seq: u64,
    acked: u64,
    /// Where the first unconfirmed record starts: (segment, offset).
    read: Option<(u64, u64)>,
    oldest_unsent: Option<DateTime<Utc>>,
    /// The folder's (device, inode) when the spool opened or last made it.
    folder: Option<(u64, u64)>,
    /// When records appended after the last sync were first written; none when all is synced.
    unsynced_since: Option<Instant>,
}

/// The durable spool. All methods block on file I/O; call them from a blocking thread.
#[derive(Debug)]
pub struct Spool {
    inner: Mutex<Inner>,
    metrics: SpoolMetrics,
    repairs: Vec<Repair>,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, cutting off any torn tail.
    pub fn open(
        dir: &Path,
        opts: SpoolOptions,
        metrics: SpoolMetrics,
    ) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let incarnation = incarnation(dir)?;
        let acked = read_cursor(dir);
        let mut segments = VecDeque::new();
        let mut repairs = Vec::new();
        let mut prev = 0;
        for (first, path) in list_segments(dir)? {
            let (seg, repair) = load_segment(first, path, prev, acked)?;
            prev = seg.last_seq.unwrap_or(prev);
            repairs.extend(repair);
            segments.push_back(seg);
        }
        let next_seq = seal_after(prev.max(acked), opts.batch_size);
        let mut inner = Inner {
            dir: dir.to_path_buf(),
            opts,
            incarnation,
            segments,
            writer: None,
            next_seq,
            acked,
            read: None,
            oldest_unsent: None,
            folder: folder_identity(dir),
            unsynced_since: None,
        };
        inner.delete_confirmed()?;
        let spool = Spool {
            inner: Mutex::new(inner),
            metrics,
            repairs,
        };
        spool.publish(&spool.lock());
        Ok(spool)
    }

    /// This spool's incarnation id (16 hex digits), part of every batch id.
    pub fn incarnation(&self) -> String {
        self.lock().incarnation.clone()
    }

    /// Torn tails cut off when the spool was opened.
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `results` (one `write()` per segment they go to); returns the sequence number of
    /// the last one. Syncs when the oldest unsynced record is `sync_interval` old (see
    /// *Durability*). May drop the oldest segment when the spool is full.
    pub fn append<R: std::borrow::Borrow<ProbeResult>>(
        &self,
        results: &[R],
    ) -> Result<Option<u64>, SpoolError> {
        let mut inner = self.lock();
        // Once per sync interval: records written into a removed folder in between are still
        // held through the open segment and copied by the reset that the next check makes.
        if inner.unsynced_since.is_none() {
            self.keep_folder(&mut inner)?;
        }
        let mut last = None;
        let mut reset = false;
        let mut next = 0;
        while next < results.len() {
            match inner.append_group(&results[next..]) {
                Ok((seq, n)) => {
                    last = Some(seq);
                    next += n;
                }
                // The folder went between the check and the write: once per call.
                Err(e) if !reset && e.is_not_found() => {
                    reset = true;
                    self.reset(&mut inner, &e.to_string())?;
                }
                Err(e) => return Err(e),
            }
        }
        if inner.sync_due() {
            inner.sync()?;
        }
        let dropped = inner.enforce_limit()?;
        if dropped > 0 {
            self.metrics.dropped_results.inc_by(dropped);
        }
        self.publish(&inner);
        Ok(last)
    }

    /// Syncs the records not yet synced, if any, once they are `sync_interval` old; returns
    /// how long until the next sync is due (none when everything is synced).
    pub fn sync_if_due(&self) -> Result<Option<Duration>, SpoolError> {
        let mut inner = self.lock();
        if inner.sync_due() {
            self.keep_folder(&mut inner)?;
            inner.sync()?;
        }
        Ok(inner
            .unsynced_since
            .map(|t| inner.opts.sync_interval.saturating_sub(t.elapsed())))
    }

    /// The next batch after the cursor, in sequence order, synced to disk first. A full window
    /// is always returned; the open window at the tail only when `allow_partial` (and it is
    /// sealed by that).
    pub fn read_batch(&self, allow_partial: bool) -> Result<Option<SpoolBatch>, SpoolError> {
        let mut inner = self.lock();
        self.keep_folder(&mut inner)?;
        inner.sync()?;
        let Some(mut batch) = inner.next_window()? else {
            inner.oldest_unsent = None;
            return Ok(None);
        };
        inner.oldest_unsent = batch.results.first().map(|r| r.time);
        let window_last = window_end(batch.first_seq, inner.opts.batch_size);
        if inner.next_seq <= window_last {
            if !allow_partial {
                return Ok(None);
            }
            inner.next_seq = window_last + 1;
            batch.partial = true;
        }
        Ok(Some(batch))
    }

    /// Records that the collector confirmed `batch` (or that it was quarantined): moves the
    /// cursor past it and deletes segments entirely below the cursor. A batch read before the
    /// spool was reset is not confirmed: its results were copied into the new spool.
    pub fn ack(&self, batch: &SpoolBatch) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        self.keep_folder(&mut inner)?;
        if batch.incarnation != inner.incarnation || batch.last_seq <= inner.acked {
            return Ok(());
        }
        match write_cursor(&inner.dir, batch.last_seq) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return self.reset(&mut inner, &e.to_string()),
            Err(e) => return Err(e),
        }
        inner.acked = batch.last_seq;
        inner.oldest_unsent = None;
        if let Some(seg) = inner.segments.iter_mut().find(|s| s.first == batch.segment) {
            seg.acked = (seg.acked + batch.records).min(seg.count);
            inner.read = Some((batch.segment, batch.end));
        }
        inner.delete_confirmed()?;
        self.publish(&inner);
        Ok(())
    }

    /// The sequence number everything up to which is confirmed.
    pub fn acked_through(&self) -> u64 {
        self.lock().acked
    }

    /// Results not yet confirmed.
    pub fn depth(&self) -> u64 {
        self.lock().depth()
    }

    /// Bytes of all segment files.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes()
    }

    /// When the oldest unconfirmed result was taken, if any.
    pub fn oldest_unsent(&self) -> Result<Option<DateTime<Utc>>, SpoolError> {
        let mut inner = self.lock();
        if inner.depth() == 0 {
            return Ok(None);
        }
        if inner.oldest_unsent.is_none() {
            let first = inner.next_window()?;
            inner.oldest_unsent = first.and_then(|b| b.results.first().map(|r| r.time));
        }
        Ok(inner.oldest_unsent)
    }

    /// Sets `driftvakt_agent_spool_oldest_unsent_age_seconds`: the oldest unconfirmed result's
    /// age at `now` (the caller's clock).
    pub fn refresh_age_metric(&self, now: DateTime<Utc>) -> Result<(), SpoolError> {
        let age = self
            .oldest_unsent()?
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        self.metrics.oldest_unsent_age_seconds.set(age);
        Ok(())
    }

    /// Every record still on disk (confirmed ones whose segment is not yet deleted included), in
    /// order. For inspection and tests.
    pub fn records(&self) -> Result<Vec<Record>, SpoolError> {
        let inner = self.lock();
        let mut out = Vec::new();
        for seg in &inner.segments {
            let mut reader = SegmentReader::new(seg, 0);
            while let Some((seq, payload)) = reader.next_valid()? {
                let result = serde_json::from_slice(&payload)?;
                out.push(Record { seq, result });
            }
        }
        Ok(out)
    }

    /// Resets the spool when its folder is gone or is no longer the one it opened.
    fn keep_folder(&self, inner: &mut Inner) -> Result<(), SpoolError> {
        match inner.folder_lost() {
            Some(why) => self.reset(inner, why),
            None => Ok(()),
        }
    }

    /// Makes the folder again with a new incarnation and copies the unconfirmed records into it;
    /// loud, since results may have been lost if the folder went with the agent stopped.
    fn reset(&self, inner: &mut Inner, why: &str) -> Result<(), SpoolError> {
        let old = inner.incarnation.clone();
        let kept = inner.recreate()?;
        self.metrics.resets.inc();
        tracing::error!(
            dir = %inner.dir.display(),
            cause = why,
            old_incarnation = %old,
            incarnation = %inner.incarnation,
            respooled = kept,
            "the spool folder {} was removed or replaced while the agent ran: made it again with a \
             new incarnation and copied the {kept} unconfirmed results the agent still held into \
             it; they are sent again under new batch ids",
            inner.dir.display()
        );
        self.publish(inner);
        Ok(())
    }

    fn publish(&self, inner: &Inner) {
        self.metrics
            .results
            .set(i64::try_from(inner.depth()).unwrap_or(i64::MAX));
        self.metrics
            .bytes
            .set(i64::try_from(inner.bytes()).unwrap_or(i64::MAX));
    }
}

impl Inner {
    fn depth(&self) -> u64 {
        self.segments.iter().map(|s| s.count - s.acked).sum()
    }

    fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Why the folder is no longer this spool's, if it is not: gone, another folder in its
    /// place, or without the incarnation file. A folder the agent cannot inspect counts as kept.
    fn folder_lost(&self) -> Option<&'static str> {
        match fs::metadata(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Some("folder removed"),
            Ok(m) if self.folder.is_some_and(|f| f != (m.dev(), m.ino())) => {
                return Some("another folder in its place")
            }
            _ => {}
        }
        match fs::symlink_metadata(self.dir.join(INCARNATION_FILE)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some("incarnation file removed"),
            _ => None,
        }
    }

    /// Makes the folder and a new incarnation, then appends every unconfirmed record still held
    /// (read through the open segments) as a new spool; returns how many.
    fn recreate(&mut self) -> Result<u64, SpoolError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        // A folder only partly emptied: the old spool's files go, their records are held open.
        for seg in &self.segments {
            remove(&seg.path)?;
        }
        remove(&self.dir.join(CURSOR_FILE))?;
        let incarnation = new_incarnation(&self.dir)?;
        let old = std::mem::take(&mut self.segments);
        let acked = self.acked;
        self.incarnation = incarnation;
        self.writer = None;
        self.next_seq = 1;
        self.acked = 0;
        self.read = None;
        self.oldest_unsent = None;
        self.folder = folder_identity(&self.dir);
        self.unsynced_since = None;
        let mut kept = 0;
        for seg in &old {
            let mut reader = SegmentReader::new(seg, 0);
            while let Some((seq, payload)) = reader.next_valid()? {
                if seq <= acked {
                    continue;
                }
                match serde_json::from_slice::<ProbeResult>(&payload) {
                    Ok(r) => {
                        self.append_one(&r)?;
                        kept += 1;
                    }
                    Err(e) => {
                        tracing::warn!(seq, error = %e, "spool reset: passing over a record that does not decode")
                    }
                }
            }
        }
        self.sync()?;
        Ok(kept)
    }

    /// Whether the unsynced records are `sync_interval` old or more.
    fn sync_due(&self) -> bool {
        self.unsynced_since
            .is_some_and(|t| t.elapsed() >= self.opts.sync_interval)
    }

    /// `fdatasync` of the segment being appended to, when it holds unsynced records.
    fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced_since.is_none() {
            return Ok(());
        }
        if let (Some(w), Some(seg)) = (&self.writer, self.segments.back()) {
            w.sync_data().map_err(io_err(&seg.path))?;
        }
        self.unsynced_since = None;
        Ok(())
    }

    fn append_one(&mut self, result: &ProbeResult) -> Result<u64, SpoolError> {
        self.append_group(std::slice::from_ref(result))
            .map(|(seq, _)| seq)
    }

    /// Writes the first records of `results` that go into the current segment (until it is
    /// full at a window boundary) with one `write()`; returns the last sequence number written
    /// and how many.
    fn append_group<R: std::borrow::Borrow<ProbeResult>>(
        &mut self,
        results: &[R],
    ) -> Result<(u64, usize), SpoolError> {
        self.maybe_roll()?;
        let limit = self.opts.segment_bytes;
        let batch = self.opts.batch_size as u64;
        let seg = self
            .segments
            .back_mut()
            .expect("maybe_roll opened a segment");
        let mut buf = Vec::new();
        let mut seq = self.next_seq;
        let mut n = 0;
        for r in results {
            if n > 0 && seg.bytes + buf.len() as u64 >= limit && seq.is_multiple_of(batch) {
                break;
            }
            encode_into(&mut buf, seq, r.borrow())?;
            seq += 1;
            n += 1;
        }
        let w = self.writer.as_mut().expect("maybe_roll opened a writer");
        if let Err(e) = w.write_all(&buf) {
            // Leave no half record behind for the next append to follow.
            let _ = w.set_len(seg.bytes);
            return Err(io_err(&seg.path)(e));
        }
        seg.bytes += buf.len() as u64;
        seg.count += n as u64;
        seg.last_seq = Some(seq - 1);
        self.next_seq = seq;
        if self.unsynced_since.is_none() {
            self.unsynced_since = Some(Instant::now());
        }
        Ok((seq - 1, n))
    }

    /// Opens a new segment when there is none to append to, or when the current one is full
    /// and the next record starts a window.
    fn maybe_roll(&mut self) -> Result<(), SpoolError> {
        let at_boundary = self.next_seq.is_multiple_of(self.opts.batch_size as u64);
        let full = self
            .segments
            .back()
            .is_some_and(|s| s.bytes >= self.opts.segment_bytes);
        if self.writer.is_some() && !(full && at_boundary) {
            return Ok(());
        }
        self.sync()?;
        let path = self.dir.join(format!("seg-{:012}.log", self.next_seq));
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let writer = file.try_clone().map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.segments.push_back(Segment {
            first: self.next_seq,
            path,
            bytes: 0,
            count: 0,
            acked: 0,
            last_seq: None,
            file: Arc::new(file),
        });
        self.writer = Some(writer);
        Ok(())
    }

    /// Drops the oldest segments while the spool is over its bound; returns the unconfirmed
    /// results dropped.
    fn enforce_limit(&mut self) -> Result<u64, SpoolError> {
        let mut dropped = 0;
        while self.bytes() > self.opts.max_bytes && self.segments.len() > 1 {
            let seg = self.segments.pop_front().expect("more than one segment");
            remove(&seg.path)?;
            let lost = seg.count - seg.acked;
            dropped += lost;
            if self.read.is_some_and(|(s, _)| s == seg.first) {
                self.read = None;
            }
            self.oldest_unsent = None;
            tracing::warn!(
                dropped = lost,
                segment = %seg.path.display(),
                max_bytes = self.opts.max_bytes,
                "spool full: dropped the oldest {lost} unsent results"
            );
        }
        Ok(dropped)
    }

    /// Deletes segments entirely at or below the cursor, and empty ones, except the one being
    /// appended to.
    fn delete_confirmed(&mut self) -> Result<(), SpoolError> {
        let active = self
            .writer
            .as_ref()
            .and(self.segments.back().map(|s| s.first));
        let acked = self.acked;
        let mut keep = VecDeque::with_capacity(self.segments.len());
        for seg in self.segments.drain(..) {
            let done = seg.last_seq.is_none_or(|l| l <= acked);
            if done && Some(seg.first) != active {
                remove(&seg.path)?;
                if self.read.is_some_and(|(s, _)| s == seg.first) {
                    self.read = None;
                }
            } else {
                keep.push_back(seg);
            }
        }
        self.segments = keep;
        Ok(())
    }

    /// The unconfirmed records of the first window after the cursor.
    fn next_window(&mut self) -> Result<Option<SpoolBatch>, SpoolError> {
        let (mut idx, mut offset) = self.read_start();
        while let Some(seg) = self.segments.get(idx) {
            match read_window(seg, offset, self.acked, self.opts.batch_size)? {
                Some(mut w) => {
                    self.read = Some((seg.first, w.start));
                    w.batch.incarnation.clone_from(&self.incarnation);
                    return Ok(Some(w.batch));
                }
                None => {
                    idx += 1;
                    offset = 0;
                }
            }
        }
        Ok(None)
    }

    /// The segment index and offset to start reading unconfirmed records at.
    fn read_start(&self) -> (usize, u64) {
        if let Some((first, offset)) = self.read {
            if let Some(i) = self.segments.iter().position(|s| s.first == first) {
                return (i, offset);
            }
        }
        let idx = self
            .segments
            .iter()
            .position(|s| s.last_seq.is_some_and(|l| l > self.acked))
            .unwrap_or(self.segments.len());
        (idx, 0)
    }
}

/// A window read from one segment, and where its first record starts.
struct WindowRead {
    batch: SpoolBatch,
    start: u64,
}

/// Reads from `offset` in `seg`: skips records at or below `acked`, then collects the records of
/// the first window found.
fn read_window(
    seg: &Segment,
    offset: u64,
    acked: u64,
    batch_size: usize,
) -> Result<Option<WindowRead>, SpoolError> {
    let mut reader = SegmentReader::new(seg, offset);
    let mut start = offset;
    let mut batch: Option<SpoolBatch> = None;
    loop {
        let before = reader.offset;
        let Some((seq, payload)) = reader.next_valid()? else {
            break;
        };
        if seq <= acked {
            start = reader.offset;
            continue;
        }
        let b = batch.get_or_insert_with(|| SpoolBatch {
            first_seq: seq,
            last_seq: seq,
            results: Vec::new(),
            partial: false,
            incarnation: String::new(),
            records: 0,
            segment: seg.first,
            end: before,
        });
        if window_of(seq, batch_size) != window_of(b.first_seq, batch_size) {
            break;
        }
        match serde_json::from_slice::<ProbeResult>(&payload) {
            Ok(r) => b.results.push(r),
            Err(e) => {
                tracing::warn!(seq, error = %e, "spool: passing over a record that does not decode")
            }
        }
        b.last_seq = seq;
        b.records += 1;
        b.end = reader.offset;
    }
    Ok(batch.map(|batch| WindowRead { batch, start }))
}

fn window_of(seq: u64, batch_size: usize) -> u64 {
    seq / batch_size as u64
}

/// The last sequence number of the window `seq` is in.
fn window_end(seq: u64, batch_size: usize) -> u64 {
    (window_of(seq, batch_size) + 1) * batch_size as u64 - 1
}

/// The first sequence number to write after `last` once its window is sealed.
fn seal_after(last: u64, batch_size: usize) -> u64 {
    if last == 0 {
        1
    } else {
        window_end(last, batch_size) + 1
    }
}

/// Most results written with one `write()`.
const MAX_GROUP: usize = 1000;

/// How long the writer gathers results after the first one before it writes them as a group.
/// Results arrive one by one, a few milliseconds apart; writing each at once woke the writer
/// task and a blocking thread per result, which cost more CPU than the probe itself. A result
/// waits at most this long in memory before its `write()`.
pub const GATHER: Duration = Duration::from_millis(100);

/// Writes every result from `results` into `spool` until the channel closes: the results that
/// arrive within [`GATHER`] of a first one are appended as one group (one `write()`), and what
/// is still unsynced is synced once it is `sync_interval` old, also when no further result
/// comes. Syncs the rest when the channel closes.
pub async fn write_from(
    mut results: tokio::sync::mpsc::Receiver<Arc<ProbeResult>>,
    spool: Arc<Spool>,
) {
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let next = match due {
            None => results.recv().await,
            Some(at) => tokio::select! {
                r = results.recv() => r,
                _ = tokio::time::sleep_until(at) => {
                    due = blocking(&spool, 0, |_| Ok(None)).await;
                    continue;
                }
            },
        };
        let Some(first) = next else { break };
        // Not woken per result meanwhile: senders only queue while this task sleeps.
        tokio::time::sleep(GATHER).await;
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match results.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let n = group.len();
        due = blocking(&spool, n, move |s| s.append(&group).map(|_| None)).await;
    }
    let s = spool.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.lock().sync()).await {
        tracing::error!(error = %e, "cannot sync the spool");
    }
}

/// Runs `f` on `spool` in a blocking thread, then its due sync; returns when the next sync is
/// due. Errors are logged with the `lost` results.
async fn blocking(
    spool: &Arc<Spool>,
    lost: usize,
    f: impl FnOnce(&Spool) -> Result<Option<u64>, SpoolError> + Send + 'static,
) -> Option<tokio::time::Instant> {
    let s = spool.clone();
    let work = move || {
        f(&s)?;
        s.sync_if_due()
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(wait)) => wait.map(|w| tokio::time::Instant::now() + w),
        Ok(Err(e)) => {
            tracing::error!(error = %e, lost, "cannot write or sync the spool");
            // Try again after a second rather than spinning.
            Some(tokio::time::Instant::now() + Duration::from_secs(1))
        }
        Err(e) => {
            tracing::error!(error = %e, lost, "spool writer failed");
            None
        }
    }
}

/// Appends `len | crc | seq | json` to `buf`.
fn encode_into(buf: &mut Vec<u8>, seq: u64, result: &ProbeResult) -> Result<(), SpoolError> {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER as usize]);
    buf.extend_from_slice(&seq.to_le_bytes());
    serde_json::to_writer(&mut *buf, result)?;
    let payload = start + HEADER as usize;
    let len = (buf.len() - payload) as u32;
    let crc = crc32(&buf[payload..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..payload].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// What reading one record found.
enum Next {
    Record { seq: u64, payload: Vec<u8> },
    End,
    Torn(&'static str),
}

/// Reads records of one segment file in order, through the segment's open descriptor.
struct SegmentReader {
    reader: BufReader<ReadAt>,
    path: PathBuf,
    /// Where the next record starts.
    offset: u64,
}

/// Positional reads (`pread`) of a shared descriptor from `pos` on: no shared file offset.
struct ReadAt {
    file: Arc<File>,
    pos: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl SegmentReader {
    fn new(seg: &Segment, offset: u64) -> SegmentReader {
        SegmentReader::at(seg.file.clone(), &seg.path, offset)
    }

    fn at(file: Arc<File>, path: &Path, offset: u64) -> SegmentReader {
        SegmentReader {
            reader: BufReader::with_capacity(64 << 10, ReadAt { file, pos: offset }),
            path: path.to_path_buf(),
            offset,
        }
    }

    fn next(&mut self) -> Result<Next, SpoolError> {
        let mut header = [0u8; HEADER as usize];
        match fill(&mut self.reader, &mut header).map_err(io_err(&self.path))? {
            0 => return Ok(Next::End),
            n if n < header.len() => return Ok(Next::Torn("short header")),
            _ => {}
        }
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if !(9..=MAX_RECORD).contains(&len) {
            return Ok(Next::Torn("impossible record length"));
        }
        let mut payload = vec![0u8; len as usize];
        if fill(&mut self.reader, &mut payload).map_err(io_err(&self.path))? < payload.len() {
            return Ok(Next::Torn("short record"));
        }
        if crc32(&payload) != crc {
            return Ok(Next::Torn("checksum mismatch"));
        }
        self.offset += HEADER + u64::from(len);
        let seq = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
        Ok(Next::Record {
            seq,
            payload: payload.split_off(8),
        })
    }

    /// The next good record; a torn one ends the segment (open has already cut it off).
    fn next_valid(&mut self) -> Result<Option<(u64, Vec<u8>)>, SpoolError> {
        match self.next()? {
            Next::Record { seq, payload } => Ok(Some((seq, payload))),
            Next::End | Next::Torn(_) => Ok(None),
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Scans a segment on open: counts records, finds the last sequence number and cuts a torn or
/// corrupt tail (a record whose sequence number does not exceed `prev` counts as corrupt).
fn load_segment(
    first: u64,
    path: PathBuf,
    prev: u64,
    acked: u64,
) -> Result<(Segment, Option<Repair>), SpoolError> {
    let file = Arc::new(File::open(&path).map_err(io_err(&path))?);
    let mut reader = SegmentReader::at(file.clone(), &path, 0);
    let (mut count, mut acked_here, mut last) = (0, 0, None::<u64>);
    let torn = loop {
        match reader.next()? {
            Next::End => break None,
            Next::Torn(reason) => break Some(reason),
            Next::Record { seq, .. } if seq <= last.unwrap_or(prev) => {
                break Some("sequence number does not increase")
            }
            Next::Record { seq, .. } => {
                count += 1;
                acked_here += u64::from(seq <= acked);
                last = Some(seq);
            }
        }
    };
    let good = reader.offset;
    let size = fs::metadata(&path).map_err(io_err(&path))?.len();
    let repair = match torn {
        Some(reason) => Some(cut_tail(&path, good, size, reason)?),
        None => None,
    };
    let seg = Segment {
        first,
        path,
        bytes: good,
        count,
        acked: acked_here,
        last_seq: last,
        file,
    };
    Ok((seg, repair))
}

fn cut_tail(path: &Path, good: u64, size: u64, reason: &'static str) -> Result<Repair, SpoolError> {
    tracing::warn!(
        segment = %path.display(),
        offset = good,
        cut = size - good,
        reason,
        "spool: torn record at the tail, cutting it off; earlier records are kept"
    );
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    file.set_len(good).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))?;
    Ok(Repair {
        segment: path.to_path_buf(),
        offset: good,
        cut: size - good,
        reason,
    })
}

/// `seg-N.log` files in `dir`, by N.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(n) = name
            .strip_prefix("seg-")
            .and_then(|r| r.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((n, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the spool's incarnation, creating it (atomically) when the file is missing or
/// unreadable.
fn incarnation(dir: &Path) -> Result<String, SpoolError> {
    let path = dir.join(INCARNATION_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let id = text.trim();
            if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(id.to_ascii_lowercase());
            }
            tracing::warn!(path = %path.display(), "spool incarnation file unreadable; giving the spool a new incarnation");
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&path)(e)),
    }
    let id = new_incarnation(dir)?;
    if list_segments(dir)?.is_empty() {
        tracing::info!(incarnation = %id, dir = %dir.display(), "new spool");
    } else {
        tracing::warn!(incarnation = %id, dir = %dir.display(), "spool without an incarnation: gave it one; its unconfirmed batches get new ids");
    }
    Ok(id)
}

/// Writes a fresh random incarnation into `dir` (atomically) and returns it.
fn new_incarnation(dir: &Path) -> Result<String, SpoolError> {
    let id = format!("{:016x}", rand::random::<u64>());
    write_atomically(&dir.join(INCARNATION_FILE), format!("{id}\n").as_bytes())?;
    Ok(id)
}

/// A folder's (device, inode), if it can be read.
fn folder_identity(dir: &Path) -> Option<(u64, u64)> {
    fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    acked_through: u64,
}

/// The confirmed sequence number; a missing or unreadable cursor means nothing was confirmed
/// (the collector recognises re-sent batches by their ids).
fn read_cursor(dir: &Path) -> u64 {
    let path = dir.join(CURSOR_FILE);
    match fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Cursor>(&bytes) {
            Ok(c) => c.acked_through,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "spool cursor unreadable, starting from 0");
                0
            }
        },
        Err(_) => 0,
    }
}

fn write_cursor(dir: &Path, acked: u64) -> Result<(), SpoolError> {
    let json = serde_json::to_vec(&Cursor {
        acked_through: acked,
    })?;
    write_atomically(&dir.join(CURSOR_FILE), &json)
}

/// Writes `path` via a temporary file, fsync and rename, then fsyncs the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn remove(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// CRC-32 (IEEE 802.3, reflected, as in zlib): the checksum of every spool record.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_reference_value() {
        // The IEEE check value: records written by the former hand-written table read back.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn windows_and_seals() {
        assert_eq!(window_end(1, 500), 499);
        assert_eq!(window_end(500, 500), 999);
        assert_eq!(seal_after(0, 500), 1);
        assert_eq!(seal_after(3, 500), 500);
        assert_eq!(seal_after(499, 500), 500);
        assert_eq!(seal_after(500, 500), 1000);
    }
}
