//! Borrow receipts from the borrow screens (library.md §4). The settled flow becomes a
//! [`CircReceipt`] in the patron's language (labels from the `.po` catalogue); on paper it goes
//! to the receipt printer on a thread of its own, so the screen never waits for the printer;
//! for a phone the screen shows its QR code ([`qr_image`], the `kiosk-receipt/1` text of the
//! slip's and the PDF's code), which needs no network. What is offered follows the library
//! setting (`[library] receipt`) and whether the printer can print now ([`PaperWatch`]):
//! out of paper, the QR code stands in for the slip. The patron's number is masked; the flow
//! itself is wiped with the session right after.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kiosk_devices::ReceiptPrinter;
use kiosk_devices::supervisor::Supervised;
use kiosk_flows::BorrowFlow;
use kiosk_flows::receipt::{
    CircReceipt, PatronOnReceipt, ReceiptContext, ReceiptLabels, ReceiptMode, printer_ready,
};

use crate::session::Language;

/// `t` (UTC) in China Standard Time (UTC+8, the profiles' time zone) as `YYYY-MM-DD HH:MM`.
pub fn china_time(t: kiosk_sip2::Timestamp) -> String {
    let t = kiosk_sip2::Timestamp(t.0 + 8 * 3600).to_sip2();
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

/// China Standard Time `days` from now, as [`china_time`]: receipts print it, offline loans
/// take their due date from it.
pub fn china_time_in_days(days: i64) -> String {
    china_time(kiosk_sip2::Timestamp(
        kiosk_sip2::Timestamp::now().0 + days * 86_400,
    ))
}

/// Local time as printed on receipts.
pub fn local_time_now() -> String {
    china_time_in_days(0)
}

/// The receipt of `flow` in `language`, made now.
pub fn borrow_receipt(
    flow: &BorrowFlow,
    language: Language,
    library: &str,
    terminal: &str,
) -> Result<CircReceipt, String> {
    borrow_receipt_at(flow, language, library, terminal, &local_time_now())
}

/// The receipt of `flow` in `language` with `time` printed on it (`YYYY-MM-DD HH:MM`).
pub fn borrow_receipt_at(
    flow: &BorrowFlow,
    language: Language,
    library: &str,
    terminal: &str,
    time: &str,
) -> Result<CircReceipt, String> {
    // The same gettext catalogue as the screen and the spoken prompts (i18n/*.po).
    let labels = ReceiptLabels::english().translated(&crate::borrow_ui::REFUSALS, |msgid| {
        crate::catalogue::lookup(language, msgid).map(str::to_string)
    });
    let ctx = ReceiptContext {
        library: library.to_string(),
        terminal: terminal.to_string(),
        time: time.to_string(),
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

/// Builds the receipt of a settled flow in the patron's language.
pub type MakeReceipt = Rc<dyn Fn(&BorrowFlow, Language) -> Result<CircReceipt, String>>;

/// How the borrow screens make receipts ([`crate::borrow_ui::BorrowUi::set_receipts`]).
#[derive(Clone)]
pub struct ReceiptOptions {
    /// The library setting.
    pub mode: ReceiptMode,
    pub make: MakeReceipt,
    /// Prints a receipt without waiting for the printer; `None`: the terminal has no printer.
    pub print: Option<Rc<dyn Fn(CircReceipt)>>,
    /// Whether the printer can print now.
    pub paper_ready: Rc<dyn Fn() -> bool>,
}

impl ReceiptOptions {
    /// The terminal's receipts: the profile's library setting, its name and terminal id on the
    /// receipt, and its printer (watched by `paper`).
    pub fn for_terminal(
        profile: &kiosk_devices::profile::Profile,
        printer: Option<Supervised<dyn ReceiptPrinter>>,
        paper: Option<&PaperWatch>,
    ) -> Result<ReceiptOptions, String> {
        let mode = match &profile.library {
            Some(lib) => lib.receipt.parse::<ReceiptMode>()?,
            None => ReceiptMode::default(),
        };
        let (library, terminal) = (profile.display_name.clone(), profile.terminal_id.clone());
        let make: MakeReceipt = Rc::new(move |flow: &BorrowFlow, language: Language| {
            borrow_receipt(flow, language, &library, &terminal)
        });
        let print = printer.map(|printer| -> Rc<dyn Fn(CircReceipt)> {
            Rc::new(move |receipt| print_in_background(printer.clone(), receipt))
        });
        let paper_ready: Rc<dyn Fn() -> bool> = match (paper, &print) {
            (Some(watch), Some(_)) => {
                let ready = watch.ready.clone();
                Rc::new(move || ready.load(Ordering::Relaxed))
            }
            (None, Some(_)) => Rc::new(|| true),
            (_, None) => Rc::new(|| false),
        };
        Ok(ReceiptOptions {
            mode,
            make,
            print,
            paper_ready,
        })
    }
}

/// Asks the receipt printer for its status every few seconds on a thread of its own, so the
/// borrow screens know without waiting whether paper can be offered. Stops when dropped.
pub struct PaperWatch {
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl PaperWatch {
    /// How often the printer is asked.
    pub const EVERY: Duration = Duration::from_secs(3);

    /// Starts watching `printer`; until its first answer the printer counts as ready.
    pub fn start(printer: Supervised<dyn ReceiptPrinter>) -> std::io::Result<PaperWatch> {
        let ready = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, st) = (ready.clone(), stop.clone());
        std::thread::Builder::new()
            .name("paper-watch".into())
            .spawn(move || {
                while !st.load(Ordering::Relaxed) {
                    let now = match printer.with(|p| p.status()) {
                        Ok(status) => printer_ready(&status),
                        Err(_) => false,
                    };
                    if r.swap(now, Ordering::Relaxed) != now {
                        tracing::info!(target: "kiosk::receipt", ready = now, "receipt printer readiness changed");
                    }
                    let mut slept = Duration::ZERO;
                    while slept < Self::EVERY && !st.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                        slept += Duration::from_millis(100);
                    }
                }
            })?;
        Ok(PaperWatch { ready, stop })
    }

    /// The printer's last answer: it can print a receipt.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

impl Drop for PaperWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `payload` as a QR code image for the screen ([`kiosk_flows::receipt::qr_code`], as the PDF
/// draws it): black modules on white with the standard four-module quiet zone, `scale` pixels a module (the page scales it up without smoothing).
pub fn qr_image(payload: &str, scale: u32) -> Result<slint::Image, String> {
    let code =
        kiosk_flows::receipt::qr_code(payload).map_err(|e| format!("receipt QR code: {e}"))?;
    let width = u32::try_from(code.width()).map_err(|e| e.to_string())?;
    let colors = code.to_colors();
    let side = (width + 8) * scale;
    let mut buffer = slint::SharedPixelBuffer::<slint::Rgb8Pixel>::new(side, side);
    let pixels = buffer.make_mut_slice();
    pixels.fill(slint::Rgb8Pixel {
        r: 255,
        g: 255,
        b: 255,
    });
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % width + 4, i as u32 / width + 4);
        for y in my * scale..(my + 1) * scale {
            let row = (y * side) as usize;
            for x in mx * scale..(mx + 1) * scale {
                pixels[row + x as usize] = slint::Rgb8Pixel { r: 0, g: 0, b: 0 };
            }
        }
    }
    Ok(slint::Image::from_rgb8(buffer))
}
