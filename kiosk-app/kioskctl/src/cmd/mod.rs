//! Subcommands. Each family lives in its own module with its clap `Args` and a `run`.

use clap::Subcommand;

use crate::cli::CliError;

// One module per subcommand family; add yours here and in `Command` and `run` below.
pub mod fingerprint;
pub mod idcard;
pub mod keys;
pub mod library;
pub mod outbox;
pub mod printer;
pub mod rfid;
pub mod scanner;
pub mod simulate;
pub mod sip2;
pub mod sip2_bench;
pub mod sync;

#[derive(Subcommand)]
pub enum Command {
    /// Signed offline queue: stats, export, verify, enqueue, quarantine, bench.
    Outbox(outbox::OutboxArgs),
    /// Terminal signing key: show for enrolment, rotate.
    Keys(keys::KeysArgs),
    /// Show the transport strings this build understands.
    Transports,
    /// Run a protocol-true device simulator on a pseudo-terminal.
    Simulate(simulate::SimulateArgs),
    /// ID-card reader (GA/T 467 SAM): read a card, bench.
    Idcard(idcard::IdCardArgs),
    /// Receipt printer (ESC/POS): status.
    Printer(printer::PrinterArgs),
    /// Print on the receipt printer: receipt FILE.json.
    Print(printer::PrintArgs),
    /// RFID pad (ISO 15693, FEIG ISO-Host or RR3036): inventory, secure, bench.
    Rfid(rfid::RfidArgs),
    /// Fingerprint module (R30x/AS608/R503): info, enroll, search, delete.
    Fingerprint(fingerprint::FingerprintArgs),
    /// Code scanner: read from a serial scanner or a camera, decode QR codes in an image.
    Scanner(scanner::ScannerArgs),
    /// Upload the signed offline queue to a back office now; `sync bench` measures a drain.
    Sync(sync::SyncArgs),
    /// Library system over SIP2: status, patron, checkout, checkin, renew, item, end.
    Sip2(sip2::Sip2Args),
    /// Run the built-in demo SIP2 server (demo catalogue and patrons) on --listen ADDR.
    Sip2Serve(sip2::ServeArgs),
    /// Offline loans and returns: replay to the ILS, failures, retry, dismiss.
    Library(library::LibraryArgs),
}

pub fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Outbox(args) => outbox::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Transports => {
            println!(
                "serial:PATH@BAUD   serial port or pseudo-terminal, e.g. serial:/dev/ttyUSB0@115200"
            );
            println!("usb:auto           first USB printer-class device");
            println!("usb:VID:PID        USB device by hexadecimal ids, e.g. usb:0416:5011");
            println!("tcp:HOST:PORT      network device, e.g. tcp:127.0.0.1:9100");
            println!("file:PATH          device file, e.g. file:/dev/usb/lp0");
            println!("sim:               built-in simulator (demo mode)");
            Ok(())
        }
        Command::Simulate(args) => simulate::run(args),
        Command::Idcard(args) => idcard::run(args),
        Command::Printer(args) => printer::run_printer(args),
        Command::Print(args) => printer::run_print(args),
        Command::Rfid(args) => rfid::run(args),
        Command::Fingerprint(args) => fingerprint::run(args),
        Command::Scanner(args) => scanner::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Sip2(args) => sip2::run(args),
        Command::Sip2Serve(args) => sip2::serve(args),
        Command::Library(args) => library::run(args),
    }
}
