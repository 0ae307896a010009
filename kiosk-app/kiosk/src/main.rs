//! `kiosk --profile NAME|PATH [--demo] [--windowed]`: the fullscreen kiosk UI.

use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use kiosk::cli::{self, Args};
use kiosk::ui::App;
use kiosk::{Kiosk, Playlist};
use slint::ComponentHandle;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let profile = cli::load_profile(args).map_err(|e| format!("kiosk: {e}"))?;
    let now = Instant::now();
    let playlist = match &args.announcements {
        Some(path) => Playlist::load(path, now).map_err(|e| format!("kiosk: {e}"))?,
        None if args.demo => Playlist::demo(now),
        None => Playlist::new(Vec::new(), now),
    };
    if let Some(reason) = cli::missing_display(|k| std::env::var(k).ok()) {
        return Err(cli::no_display_message(&reason));
    }

    let app = App::new().map_err(|e| cli::no_display_message(&e.to_string()))?;
    let kiosk = Kiosk::attach(&app, &profile, playlist, Rc::new(Instant::now))
        .map_err(|e| format!("kiosk: {e}"))?;
    kiosk::narrator::attach_espeak(&kiosk);
    let _tick = kiosk.start_timer();
    let _quit = args.quit_after.map(|secs| {
        let timer = slint::Timer::default();
        timer.start(
            slint::TimerMode::SingleShot,
            Duration::from_secs(secs),
            || {
                let _ = slint::quit_event_loop();
            },
        );
        timer
    });
    app.window().set_fullscreen(!args.windowed);
    tracing::info!(
        profile = profile.kind.as_str(),
        terminal = %profile.terminal_id,
        demo = args.demo,
        "kiosk started"
    );
    app.run()
        .map_err(|e| cli::no_display_message(&e.to_string()))
}
