//! Borrow receipts from the borrow screens (library.md §4): when the patron picks paper, the
//! settled flow becomes a [`CircReceipt`] in the patron's language and goes to the receipt
//! printer on a thread of its own (labels from the `.po` catalogue), so the screen never waits for the printer. The patron's
//! number is masked on paper; the flow itself is wiped with the session right after.

use kiosk_devices::ReceiptPrinter;
use kiosk_devices::supervisor::Supervised;
use kiosk_flows::BorrowFlow;
use kiosk_flows::receipt::{CircReceipt, PatronOnReceipt, ReceiptContext, ReceiptLabels};

use crate::session::Language;

/// China Standard Time (UTC+8, the profiles' time zone) `days` from now, as
/// `YYYY-MM-DD HH:MM`: receipts print it, offline loans take their due date from it.
pub fn china_time_in_days(days: i64) -> String {
    let t =
        kiosk_sip2::Timestamp(kiosk_sip2::Timestamp::now().0 + 8 * 3600 + days * 86_400).to_sip2();
    // `YYYYMMDD   ZHHMMSS` → `YYYY-MM-DD HH:MM`
    format!(
        "{}-{}-{} {}:{}",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[12..14],
        &t[14..16]
    )
}

/// Local time as printed on receipts.
pub fn local_time_now() -> String {
    china_time_in_days(0)
}

/// The receipt of `flow` in `language`.
pub fn borrow_receipt(
    flow: &BorrowFlow,
    language: Language,
    library: &str,
    terminal: &str,
) -> Result<CircReceipt, String> {
    // The same gettext catalogue as the screen and the spoken prompts (i18n/*.po).
    let labels = ReceiptLabels::english().translated(&crate::borrow_ui::REFUSALS, |msgid| {
        crate::catalogue::lookup(language, msgid).map(str::to_string)
    });
    let ctx = ReceiptContext {
        library: library.to_string(),
        terminal: terminal.to_string(),
        time: local_time_now(),
        patron: PatronOnReceipt::Masked,
    };
    CircReceipt::from_borrow(flow, &ctx, &labels).map_err(|e| e.to_string())
}

/// Prints `receipt` on a worker thread; the outcome is logged (and the printer's faults reach
/// the maintenance menu through the supervisor).
pub fn print_in_background(printer: Supervised<dyn ReceiptPrinter>, receipt: CircReceipt) {
    let spawned = std::thread::Builder::new()
        .name("receipt".into())
        .spawn(move || {
            let escpos = match receipt.to_escpos() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(target: "kiosk::receipt", "receipt not rendered: {e}");
                    return;
                }
            };
            match printer.with(|p| p.print(&escpos)) {
                Ok(()) => tracing::info!(target: "kiosk::receipt", items = receipt.done_count(), "receipt printed"),
                Err(fault) => tracing::warn!(target: "kiosk::receipt", kind = fault.kind.as_str(), "receipt not printed: {}", fault.message),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(target: "kiosk::receipt", "cannot start the receipt thread: {e}");
    }
}
