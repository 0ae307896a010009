//! Uploads the terminal's signed offline queue to the back office (queue notes §4, PROTOCOL.md §7).
//!
//! - Bounded batches (record count and bytes), oldest first, one `Idempotency-Key` per batch.
//! - Per-record acknowledgements: a record is marked sent only after the receiver answered
//!   `accepted` or `duplicate` for it, i.e. after the receiver's own commit.
//! - Network errors, 408, 429 and 5xx are retried with capped exponential backoff and full
//!   jitter, honouring `Retry-After`. A per-record refusal quarantines that record only; other
//!   4xx answers for a whole batch are narrowed down by halving the batch until the one record
//!   that causes them is found and quarantined, and the rest flow on.
//! - 401/403 mean the terminal is not (or no longer) allowed to upload: nothing is quarantined,
//!   the uploader waits and reports it.
//! - One uploader per queue (one forwarder; queue notes §0.7).

pub mod backoff;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kiosk_queue::protocol::{
    IDEMPOTENCY_HEADER, RecordResult, RecordStatus, UPLOAD_PATH, UploadRequest, UploadResponse,
};
use kiosk_queue::{Queue, QueueError};
use serde::Serialize;
use tokio::sync::{Notify, watch};

pub use backoff::{Backoff, parse_retry_after};

/// Size and age of what waits to be sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    pub pending: u64,
    /// Wall time (ms since the epoch) of the oldest pending record.
    pub oldest_wall_ms: Option<i64>,
}

impl Backlog {
    /// Age of the oldest pending record by the local clock.
    pub fn oldest_age(&self, now: SystemTime) -> Option<Duration> {
        let oldest = self.oldest_wall_ms?;
        let now_ms = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_millis() as i64;
        Some(Duration::from_millis(
            now_ms.saturating_sub(oldest).max(0) as u64
        ))
    }
}

/// The receiver holds this seq (accepted now or before): the terminal may mark it sent.
pub fn is_held(r: &RecordResult) -> bool {
    matches!(r.status, RecordStatus::Accepted | RecordStatus::Duplicate)
}

/// Refused only because an earlier seq is missing there: resend in order, never quarantine.
pub fn is_ordering(r: &RecordResult) -> bool {
    r.status == RecordStatus::Rejected
        && matches!(r.reason.as_deref(), Some("sequence_gap" | "reordered"))
}

/// Tuning of the uploader.
#[derive(Debug, Clone)]
pub struct Config {
    /// Receiver base URL, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    pub max_batch_records: usize,
    pub max_batch_bytes: usize,
    /// Timeout of one upload request (connect + send + answer).
    pub request_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How often the background task looks for new records when idle.
    pub idle_poll: Duration,
}

impl Config {
    pub fn new(base_url: impl Into<String>) -> Self {
        Config {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            max_batch_records: 200,
            max_batch_bytes: 512 * 1024,
            request_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(60),
            idle_poll: Duration::from_secs(5),
        }
    }
}

/// Failures of the uploader itself.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UploadError {
    #[error("local queue: {0}")]
    Queue(String),
    #[error("network: {0}")]
    Network(String),
    #[error("receiver answered {status}: {detail}")]
    Http {
        status: u16,
        detail: String,
        /// The answer's `Retry-After`, a floor for the next try.
        retry_after: Option<Duration>,
    },
    #[error("receiver refused this terminal ({status}): {detail}")]
    NotAllowed { status: u16, detail: String },
    #[error("receiver answer unreadable: {0}")]
    BadAnswer(String),
    #[error("receiver is missing earlier records: {0}")]
    OutOfOrder(String),
    #[error("gave up after {0} consecutive failed attempts")]
    GaveUp(u32),
    #[error("client setup: {0}")]
    Setup(String),
}

impl UploadError {
    /// Worth trying again later (network, 408, 429, 5xx, ordering).
    pub fn is_transient(&self) -> bool {
        match self {
            UploadError::Network(_) | UploadError::BadAnswer(_) | UploadError::OutOfOrder(_) => {
                true
            }
            UploadError::Http { status, .. } => retryable_status(*status),
            _ => false,
        }
    }
}

fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Counters and state shown to staff (maintenance menu, `kioskctl sync --json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub backlog: Backlog,
    /// Oldest pending record's age in seconds.
    pub oldest_age_secs: Option<u64>,
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub batches: u64,
    pub retries: u64,
    pub last_error: Option<String>,
    /// Highest seq the receiver reported holding.
    pub receiver_hwm: Option<u64>,
}

/// Result of one batch attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing pending.
    Idle,
    /// The batch was answered; counts of held and quarantined records.
    Sent { held: usize, quarantined: usize },
    /// A 4xx for the whole batch: the batch limit was halved to find the culprit.
    Narrowed { limit: usize },
}

/// Installs rustls' ring provider as the process default (reqwest is built without one, so any
/// `reqwest::Client` needs this first). Calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The uploader over one queue.
pub struct Uploader {
    queue: Arc<Queue>,
    config: Config,
    client: reqwest::Client,
    backoff: Backoff,
    /// Current batch record limit (halved while looking for a poison record).
    limit: usize,
    status: watch::Sender<Status>,
    wake: Arc<Notify>,
}

impl Uploader {
    pub fn new(queue: Arc<Queue>, config: Config) -> Result<Self, UploadError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| UploadError::Setup(error_chain(&e)))?;
        let (status, _) = watch::channel(Status::default());
        Ok(Uploader {
            queue,
            backoff: Backoff::new(config.backoff_base, config.backoff_cap),
            limit: config.max_batch_records.max(1),
            config,
            client,
            status,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Watch the counters and the backlog.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Wakes the background task at once (call after enqueueing a record).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    async fn with_queue<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Queue) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, UploadError> {
        let q = self.queue.clone();
        tokio::task::spawn_blocking(move || f(&q).map_err(|e| UploadError::Queue(e.to_string())))
            .await
            .map_err(|e| UploadError::Queue(e.to_string()))?
    }

    /// Refreshes the backlog figures in [`Status`].
    pub async fn refresh_backlog(&self) -> Result<Backlog, UploadError> {
        let st = self.with_queue(|q| q.stats()).await?;
        let b = Backlog {
            pending: st.pending,
            oldest_wall_ms: st.oldest_pending_wall_ms,
        };
        self.status.send_modify(|s| {
            s.backlog = b;
            s.oldest_age_secs = b.oldest_age(SystemTime::now()).map(|d| d.as_secs());
        });
        Ok(b)
    }

    /// Sends one batch and applies the answer. Transient failures come back as errors for
    /// the caller's backoff; quarantines and narrowing are handled here.
    pub async fn step(&mut self) -> Result<Step, UploadError> {
        let (limit, bytes) = (self.limit, self.config.max_batch_bytes);
        let batch = self
            .with_queue(move |q| q.pending_batch(limit, bytes))
            .await?;
        if batch.records.is_empty() {
            return Ok(Step::Idle);
        }
        let req = UploadRequest::from_batch(&batch)
            .map_err(|e| UploadError::Queue(format!("stored record undecodable: {e}")))?;
        let key = req.idempotency_key();
        let seqs: Vec<u64> = req.records.iter().map(|w| w.seq).collect();
        self.status.send_modify(|s| s.batches += 1);
        let answer = self.post(&key, &req).await;
        match answer {
            Ok(resp) => self.apply(&seqs, resp).await,
            Err(UploadError::Http { status, detail, .. })
                if (400..500).contains(&status) && !retryable_status(status) =>
            {
                if seqs.len() > 1 {
                    self.limit = (seqs.len() / 2).max(1);
                    tracing::warn!(status, %detail, limit = self.limit, "batch refused; narrowing");
                    return Ok(Step::Narrowed { limit: self.limit });
                }
                let seq = seqs[0];
                let reason = format!("http {status}: {detail}");
                self.with_queue(move |q| q.quarantine(seq, &reason)).await?;
                tracing::warn!(seq, status, "record quarantined");
                self.limit = self.config.max_batch_records.max(1);
                self.status.send_modify(|s| s.quarantined += 1);
                Ok(Step::Sent {
                    held: 0,
                    quarantined: 1,
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn post(&self, key: &str, req: &UploadRequest) -> Result<UploadResponse, UploadError> {
        let url = format!("{}{}", self.config.base_url, UPLOAD_PATH);
        let resp = self
            .client
            .post(&url)
            .header(IDEMPOTENCY_HEADER, key)
            .json(req)
            .send()
            .await
            .map_err(|e| UploadError::Network(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        if status == 200 {
            let body = resp
                .bytes()
                .await
                .map_err(|e| UploadError::Network(error_chain(&e)))?;
            return serde_json::from_slice(&body)
                .map_err(|e| UploadError::BadAnswer(e.to_string()));
        }
        let detail = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>();
        if status == 401 || status == 403 {
            return Err(UploadError::NotAllowed { status, detail });
        }
        Err(UploadError::Http {
            status,
            detail,
            retry_after,
        })
    }

    async fn apply(&mut self, seqs: &[u64], resp: UploadResponse) -> Result<Step, UploadError> {
        if resp.results.len() != seqs.len()
            || resp.results.iter().zip(seqs).any(|(a, s)| a.seq != *s)
        {
            return Err(UploadError::BadAnswer(
                "results do not match the batch".into(),
            ));
        }
        let mut held = Vec::new();
        let mut quarantine = Vec::new();
        let mut ordering = None;
        let (mut accepted, mut duplicates) = (0u64, 0u64);
        for a in &resp.results {
            if is_held(a) {
                if a.status == RecordStatus::Accepted {
                    accepted += 1;
                } else {
                    duplicates += 1;
                }
                held.push(a.seq);
            } else if is_ordering(a) {
                // Everything after a gap waits; it is resent in order on the next step.
                ordering.get_or_insert_with(|| {
                    format!(
                        "seq {}: {} (receiver holds up to {:?})",
                        a.seq,
                        a.reason.as_deref().unwrap_or(""),
                        resp.high_water
                    )
                });
            } else {
                quarantine.push((a.seq, a.reason.clone().unwrap_or_else(|| "rejected".into())));
            }
        }
        let nq = quarantine.len();
        let nh = held.len();
        self.with_queue(move |q| {
            if !held.is_empty() {
                q.mark_acknowledged(&held)?;
            }
            for (seq, reason) in &quarantine {
                q.quarantine(*seq, reason)?;
            }
            Ok(())
        })
        .await?;
        self.limit = self.config.max_batch_records.max(1);
        self.status.send_modify(|s| {
            s.accepted += accepted;
            s.duplicates += duplicates;
            s.quarantined += nq as u64;
            s.receiver_hwm = resp.high_water;
        });
        if nh == 0
            && nq == 0
            && let Some(why) = ordering
        {
            return Err(UploadError::OutOfOrder(why));
        }
        Ok(Step::Sent {
            held: nh,
            quarantined: nq,
        })
    }

    fn note_failure(&mut self, e: &UploadError) -> Duration {
        let ra = match e {
            UploadError::Http { retry_after, .. } => *retry_after,
            _ => None,
        };
        let delay = self.backoff.next_delay(ra);
        self.status.send_modify(|s| {
            s.retries += 1;
            s.last_error = Some(e.to_string());
        });
        tracing::info!(error = %e, ?delay, "upload failed; retrying later");
        delay
    }

    fn note_success(&mut self) {
        self.backoff.reset();
        self.status.send_modify(|s| s.last_error = None);
    }

    /// Sends until nothing is pending. Transient failures are retried with backoff; gives up
    /// after `max_failures` consecutive failures (`None` = never) or on a non-transient error.
    pub async fn drain(&mut self, max_failures: Option<u32>) -> Result<Status, UploadError> {
        let mut failures = 0u32;
        loop {
            match self.step().await {
                Ok(Step::Idle) => break,
                Ok(_) => {
                    failures = 0;
                    self.note_success();
                }
                Err(e) if e.is_transient() => {
                    failures += 1;
                    let delay = self.note_failure(&e);
                    if max_failures.is_some_and(|m| failures >= m) {
                        return Err(UploadError::GaveUp(failures));
                    }
                    tokio::time::sleep(delay).await;
                }
                Err(e) => {
                    self.status
                        .send_modify(|s| s.last_error = Some(e.to_string()));
                    return Err(e);
                }
            }
        }
        self.refresh_backlog().await?;
        Ok(self.status.borrow().clone())
    }

    /// The background task: uploads whenever records are pending, sleeps when idle (or until
    /// woken), backs off on failures, and returns when `shutdown` completes. A batch in flight
    /// at shutdown is abandoned unmarked: it is simply sent again next time.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) -> Status {
        tokio::pin!(shutdown);
        loop {
            let wait = match self.step().await {
                Ok(Step::Idle) => {
                    let _ = self.refresh_backlog().await;
                    self.config.idle_poll
                }
                Ok(_) => {
                    self.note_success();
                    Duration::ZERO
                }
                Err(e) => {
                    let d = self.note_failure(&e);
                    if !e.is_transient() {
                        d.max(self.config.backoff_cap)
                    } else {
                        d
                    }
                }
            };
            if wait.is_zero() {
                if futures_ready(&mut shutdown).await {
                    break;
                }
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
        let _ = self.refresh_backlog().await;
        self.status.borrow().clone()
    }
}

/// Polls `shutdown` once without waiting.
async fn futures_ready<F: Future<Output = ()>>(f: &mut std::pin::Pin<&mut F>) -> bool {
    tokio::select! {
        biased;
        _ = f.as_mut() => true,
        _ = std::future::ready(()) => false,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_errors_408_429_and_5xx_are_retried_other_4xx_are_not() {
        let http = |status| UploadError::Http {
            status,
            detail: String::new(),
            retry_after: None,
        };
        assert!(UploadError::Network("connection reset".into()).is_transient());
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(http(status).is_transient(), "{status}");
        }
        for status in [400, 404, 409, 413, 422] {
            assert!(!http(status).is_transient(), "{status}");
        }
        let refused = UploadError::NotAllowed {
            status: 401,
            detail: String::new(),
        };
        assert!(!refused.is_transient(), "401/403 stop and alert");
    }
}
