//! Test vectors of PROTOCOL.md §10: a fixed seed, two chained records and a checkpoint.
//! `vectors_match_protocol_md` checks that the page and `fixtures/queue/` show exactly these.

use crate::keys::TerminalKey;
use crate::record::{
    CheckpointBody, GENESIS_PREV, RecordBody, SignedCheckpoint, SignedRecord, sha256,
};

/// The RFC 8032 seed of the vectors: bytes 0x00, 0x01, … 0x1f.
pub fn seed() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

/// The vector key.
pub fn key() -> TerminalKey {
    TerminalKey::from_seed(&seed())
}

/// Two records (seq 1 and 2) of terminal `T-0001` and a checkpoint at count 2.
pub fn generate() -> (Vec<SignedRecord>, SignedCheckpoint) {
    let key = key();
    let payloads: [&[u8]; 2] = [
        br#"{"due":"2026-01-22","item":"30012000456789","patron":"P-1"}"#,
        br#"{"amount":250,"currency":"CNY","reason":"late fee"}"#,
    ];
    let kinds = ["loan", "payment"];
    let mut prev = GENESIS_PREV;
    let mut records = Vec::new();
    for i in 0..2 {
        let body = RecordBody {
            terminal: "T-0001".into(),
            seq: i as u64 + 1,
            wall_ms: 1_767_225_600_000 + i as i64 * 1000,
            boot_id: std::array::from_fn(|j| 0xa0 + j as u8),
            mono_ns: 5_000_000_000 + i as u64 * 1_000_000_000,
            signer: key.public(),
            prev_hash: prev,
            kind: kinds[i].into(),
            payload: payloads[i].to_vec(),
        }
        .encode();
        let hash = sha256(&body);
        let sig = key.sign(&body);
        prev = hash;
        records.push(SignedRecord { body, sig, hash });
    }
    let cp_body = CheckpointBody {
        terminal: "T-0001".into(),
        count: 2,
        head_hash: prev,
        wall_ms: 1_767_225_602_000,
        signer: key.public(),
    }
    .encode();
    let cp_sig = key.sign(&cp_body);
    (
        records,
        SignedCheckpoint {
            body: cp_body,
            sig: cp_sig,
        },
    )
}

/// The vectors as the JSON lines of `fixtures/queue/vectors.jsonl`: two wire records, then
/// the wire checkpoint.
pub fn jsonl() -> String {
    let (records, cp) = generate();
    let mut out = String::new();
    for r in &records {
        out.push_str(&serde_json::to_string(&r.to_wire().expect("vector decodes")).expect("json"));
        out.push('\n');
    }
    out.push_str(&serde_json::to_string(&cp.to_wire().expect("vector decodes")).expect("json"));
    out.push('\n');
    out
}

/// Hex dumps of the vectors, 32 bytes per line, as PROTOCOL.md shows them.
pub fn markdown() -> String {
    let (records, cp) = generate();
    let key = key();
    let mut s = String::new();
    s.push_str(&format!("seed        {}\n", hex::encode(seed())));
    s.push_str(&format!("public key  {}\n", key.public().to_hex()));
    for r in &records {
        let b = r.decode_body().expect("vector decodes");
        s.push_str(&format!(
            "\nrecord seq {} ({} bytes signed):\n",
            b.seq,
            r.body.len()
        ));
        for chunk in r.body.chunks(32) {
            s.push_str(&format!("  {}\n", hex::encode(chunk)));
        }
        s.push_str(&format!("hash        {}\n", hex::encode(r.hash)));
        s.push_str(&format!("signature   {}\n", hex::encode(r.sig)));
    }
    s.push_str(&format!(
        "\ncheckpoint count 2 ({} bytes signed):\n",
        cp.body.len()
    ));
    for chunk in cp.body.chunks(32) {
        s.push_str(&format!("  {}\n", hex::encode(chunk)));
    }
    s.push_str(&format!("signature   {}\n", hex::encode(cp.sig)));
    s
}
