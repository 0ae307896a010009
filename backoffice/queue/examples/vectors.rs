//! Prints the PROTOCOL.md §10 test vectors: `cargo run -p kiosk-queue --example vectors`
//! (hex dump), `-- --jsonl` (the contents of `fixtures/queue/vectors.jsonl`).

fn main() {
    if std::env::args().any(|a| a == "--jsonl") {
        print!("{}", kiosk_queue::vectors::jsonl());
    } else {
        print!("{}", kiosk_queue::vectors::markdown());
    }
}
