//! The HTTP face of the receiver (axum). `POST /v1/records` runs [`crate::ingest::ingest`] on a
//! blocking thread with the store locked (one writer, like the terminal's one forwarder) and
//! answers only after the commit returned.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kiosk_queue::protocol::{IDEMPOTENCY_HEADER, UPLOAD_PATH, UploadRequest};
use serde::Serialize;

use crate::ingest::{IngestError, Policy, ingest};
use crate::store::{RecordStore, StoreError};

/// Limits of one upload.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_records: usize,
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_records: 1000,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Answers remembered per `Idempotency-Key` (bounded; per-record dedup does not depend on it).
struct IdempotencyCache {
    order: VecDeque<String>,
    answers: HashMap<String, ([u8; 32], String)>,
    capacity: usize,
}

impl IdempotencyCache {
    fn get(&self, key: &str) -> Option<&([u8; 32], String)> {
        self.answers.get(key)
    }

    fn put(&mut self, key: String, fingerprint: [u8; 32], answer: String) {
        if self
            .answers
            .insert(key.clone(), (fingerprint, answer))
            .is_none()
        {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.answers.remove(&old);
                }
            }
        }
    }
}

struct AppState {
    store: Mutex<Box<dyn RecordStore>>,
    policy: Policy,
    limits: Limits,
    idempotency: Mutex<IdempotencyCache>,
    requests: std::sync::atomic::AtomicU64,
}

/// The receiver's routes over an open store.
pub fn router(store: Box<dyn RecordStore>, policy: Policy, limits: Limits) -> Router {
    let body_limit = limits.max_body_bytes;
    let state = Arc::new(AppState {
        store: Mutex::new(store),
        policy,
        limits,
        idempotency: Mutex::new(IdempotencyCache {
            order: VecDeque::new(),
            answers: HashMap::new(),
            capacity: 1024,
        }),
        requests: std::sync::atomic::AtomicU64::new(0),
    });
    Router::new()
        .route(UPLOAD_PATH, post(upload))
        .route("/v1/terminals/{terminal}", get(terminal_state))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (port 0 picks a free one) and returns the listener and its address.
pub async fn bind(addr: &str) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// Error body of a non-200 answer: a stable `error` code and a human `detail`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: String,
    pub detail: String,
}

fn error(status: StatusCode, code: &str, detail: impl Into<String>) -> Response {
    let mut r = (
        status,
        axum::Json(ErrorBody {
            error: code.into(),
            detail: detail.into(),
        }),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

fn json_answer(body: String) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn upload(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(key) = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|k| !k.is_empty() && k.len() <= 255)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Idempotency-Key header missing",
        );
    };
    let fingerprint = kiosk_queue::record::sha256(&body);
    // Same key and same body: replay the stored answer. Same key, other body (the terminal's
    // key names only the seq range, and the checkpoint may have moved): process it afresh;
    // per-record dedup keeps that safe (PROTOCOL.md §7.3).
    if let Some((fp, answer)) = st
        .idempotency
        .lock()
        .map(|c| c.get(&key).cloned())
        .ok()
        .flatten()
        && fp == fingerprint
    {
        return json_answer(answer);
    }
    let req: UploadRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    if req.records.len() > st.limits.max_records {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("at most {} records per upload", st.limits.max_records),
        );
    }
    let n = st
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let request_id = format!("{key}#{n}");
    let st2 = st.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut store = st2
            .store
            .lock()
            .map_err(|_| IngestError::Store(StoreError::Corrupt("store lock poisoned".into())))?;
        ingest(store.as_mut(), &st2.policy, &request_id, &req)
    })
    .await;
    let resp = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(IngestError::UnknownTerminal(t))) => {
            return error(
                StatusCode::FORBIDDEN,
                "unknown_terminal",
                format!("terminal {t} is not enrolled"),
            );
        }
        Ok(Err(e @ IngestError::Blocked { .. })) => {
            return error(StatusCode::FORBIDDEN, "blocked", e.to_string());
        }
        Ok(Err(IngestError::BadRequest(m))) => {
            return error(StatusCode::BAD_REQUEST, "bad_request", m);
        }
        Ok(Err(IngestError::Store(e))) => {
            tracing::error!(error = %e, "store failed; upload refused for retry");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            );
        }
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            );
        }
    };
    let answer = match serde_json::to_string(&resp) {
        Ok(a) => a,
        Err(e) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string());
        }
    };
    if let Ok(mut c) = st.idempotency.lock() {
        c.put(key, fingerprint, answer.clone());
    }
    json_answer(answer)
}

#[derive(Serialize)]
struct TerminalView {
    terminal: String,
    hwm: u64,
    head_hash: String,
    checkpoint: Option<u64>,
    keys: Vec<String>,
    blocked: Option<String>,
}

async fn terminal_state(State(st): State<Arc<AppState>>, Path(terminal): Path<String>) -> Response {
    let got = tokio::task::spawn_blocking(move || {
        let mut s = st
            .store
            .lock()
            .map_err(|_| StoreError::Corrupt("store lock poisoned".into()))?;
        s.terminal(&terminal)
    })
    .await;
    match got {
        Ok(Ok(Some(t))) => axum::Json(TerminalView {
            terminal: t.terminal,
            hwm: t.hwm,
            head_hash: hex::encode(t.head_hash),
            checkpoint: t.checkpoint.map(|(c, _)| c),
            keys: t.keys.iter().map(|k| k.key_id.clone()).collect(),
            blocked: t.blocked,
        })
        .into_response(),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, "unknown_terminal", "not enrolled"),
        Ok(Err(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}
