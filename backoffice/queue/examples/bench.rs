//! The `kioskctl outbox bench` measurement without the CLI's dependencies:
//! `cargo run --release -p kiosk-queue --example bench -- DIR RECORDS`.

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let records: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let work = dir.join(format!("kiosk-queue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("bench directory");
    println!("| configuration | callers | records | seconds | per second |");
    println!("|---|---|---|---|---|");
    for callers in [1usize, 16] {
        let per = (records / callers).max(1);
        for row in [
            kiosk_queue::bench::plain_inserts(&work, callers, per),
            kiosk_queue::bench::queue_enqueues(&work, callers, per),
        ] {
            let r = row.expect("bench run");
            println!(
                "| {} | {} | {} | {:.2} | {:.0} |",
                r.what, r.callers, r.records, r.seconds, r.per_second
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
