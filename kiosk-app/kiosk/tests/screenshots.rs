//! Golden screenshots rendered by Slint's software renderer through the testing backend (no
//! display): attract and home, in zh-CN, in English and in elder mode, and the maintenance PIN
//! pad and menu (demo status fixture) in the same three variants, compared with the PNGs in
//! `fixtures/screenshots/` with a small tolerance. Regenerate after an intended change with
//! `KIOSK_UPDATE_SCREENSHOTS=1 cargo test -p kiosk --test screenshots` and look at the result.
//!
//! Text comes from the Noto Sans CJK SC subset embedded in the binary (`ui/fonts/`), so the
//! screenshots do not depend on the machine's fonts.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use i_slint_backend_testing::{ElementHandle, TestingBackend, TestingBackendOptions};
use kiosk::borrow_ui::{BorrowUi, demo};
use kiosk::maintenance::{self, FixtureBackend};
use kiosk::maintenance_ui::MaintenanceUi;
use kiosk::ui::App;
use kiosk::{Kiosk, Playlist};
use kiosk_devices::profile::Profile;
use slint::platform::PointerEventButton;
use slint::{ComponentHandle, LogicalSize};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 800;
/// Largest mean per-channel difference (0–255) accepted, and largest share of pixels that may
/// differ by more than 64 in some channel.
const MAX_MEAN_DIFF: f64 = 1.0;
const MAX_CHANGED_SHARE: f64 = 0.005;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/screenshots")
}

fn press(app: &App, label: &str) {
    use i_slint_backend_testing::AccessibleRole;
    let found: Vec<_> = ElementHandle::find_by_accessible_label(app, label)
        .filter(|e| {
            matches!(
                e.accessible_role(),
                Some(AccessibleRole::Button | AccessibleRole::Switch)
            )
        })
        .collect();
    assert_eq!(found.len(), 1, "one control labelled {label:?}");
    found[0].invoke_accessible_default_action();
}

fn snapshot(app: &App) -> Vec<u8> {
    let buffer = app.window().take_snapshot().expect("software snapshot");
    assert_eq!((buffer.width(), buffer.height()), (WIDTH, HEIGHT));
    buffer.as_bytes().to_vec()
}

/// Compares with the golden file, or writes it when updating. Returns a failure message.
fn check(name: &str, rgba: &[u8], update: bool) -> Option<String> {
    let path = golden_dir().join(format!("{name}.png"));
    if update {
        std::fs::create_dir_all(golden_dir()).unwrap();
        image::save_buffer(&path, rgba, WIDTH, HEIGHT, image::ExtendedColorType::Rgba8).unwrap();
        return None;
    }
    let golden = match image::open(&path) {
        Ok(img) => img.to_rgba8(),
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    if golden.dimensions() != (WIDTH, HEIGHT) {
        return Some(format!("{name}: golden is {:?}", golden.dimensions()));
    }
    let (mut sum, mut changed) = (0u64, 0usize);
    for (a, b) in rgba.chunks_exact(4).zip(golden.as_raw().chunks_exact(4)) {
        let diffs: Vec<u8> = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).collect();
        sum += diffs.iter().map(|d| u64::from(*d)).sum::<u64>();
        if diffs.iter().any(|d| *d > 64) {
            changed += 1;
        }
    }
    let mean = sum as f64 / rgba.len() as f64;
    let share = changed as f64 / (rgba.len() / 4) as f64;
    if mean > MAX_MEAN_DIFF || share > MAX_CHANGED_SHARE {
        let actual = std::env::temp_dir().join(format!("kiosk-{name}.actual.png"));
        image::save_buffer(
            &actual,
            rgba,
            WIDTH,
            HEIGHT,
            image::ExtendedColorType::Rgba8,
        )
        .unwrap();
        return Some(format!(
            "{name}: mean diff {mean:.3}, {:.3}% pixels changed; actual saved to {}",
            share * 100.0,
            actual.display()
        ));
    }
    None
}

#[test]
fn golden_screenshots() {
    slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
        mock_time: true,
        threading: false,
        renderer_name: Some("software".into()),
    })))
    .unwrap();
    let update = std::env::var_os("KIOSK_UPDATE_SCREENSHOTS").is_some();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles");
    let profile = Profile::find("library-selfcheck", &[dir])
        .unwrap()
        .simulated();
    let app = App::new().unwrap();
    app.window()
        .set_size(LogicalSize::new(WIDTH as f32, HEIGHT as f32));
    app.show().unwrap();
    let now = Rc::new(Cell::new(Instant::now()));
    let clock = now.clone();
    let kiosk = Kiosk::attach(
        &app,
        &profile,
        Playlist::demo(now.get()),
        Rc::new(move || clock.get()),
    )
    .unwrap();

    let mut backend = FixtureBackend::demo_for(&profile);
    backend.test_delay = std::time::Duration::ZERO;
    let menu_clock = now.clone();
    let menu = MaintenanceUi::attach(
        &app,
        &kiosk,
        &profile,
        Some(&maintenance::demo_settings()),
        Rc::new(backend),
        Rc::new(move || menu_clock.get()),
    )
    .unwrap();

    let mut failures = Vec::new();
    let mut shot = |name: &str| {
        if let Some(f) = check(name, &snapshot(&app), update) {
            failures.push(f);
        }
    };
    shot("attract-zh-CN");
    press(&app, "开始");
    shot("home-zh-CN");
    press(&app, "English");
    shot("home-en");
    press(&app, "Finish");
    press(&app, "English");
    shot("attract-en");
    press(&app, "中文");
    press(&app, "长辈模式");
    shot("attract-elder-zh-CN");
    press(&app, "开始");
    shot("home-elder-zh-CN");
    press(&app, "结束");

    // The maintenance menu: five taps on the corner, then the demo PIN.
    let corner: Vec<_> =
        ElementHandle::find_by_element_id(&app, "App::maintenance-corner").collect();
    for _ in 0..5 {
        corner[0].mock_single_click(PointerEventButton::Left);
    }
    press(&app, "2");
    press(&app, "5");
    shot("maintenance-pin-zh-CN");
    press(&app, "8");
    press(&app, "0");
    press(&app, "确定");
    menu.wait_pin_check();
    // One finished test, so the result line shows too.
    press(&app, "打印测试");
    for _ in 0..500 {
        menu.tick();
        if !ElementHandle::find_by_accessible_label(&app, "× 测试失败: printer reports no paper")
            .collect::<Vec<_>>()
            .is_empty()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    shot("maintenance-zh-CN");
    press(&app, "键盘测试");
    press(&app, "字母");
    for key in ["Z", "G", "L", "S"] {
        press(&app, key);
    }
    shot("maintenance-keypad-zh-CN");
    press(&app, "返回");
    press(&app, "English");
    shot("maintenance-en");
    press(&app, "中文");
    press(&app, "长辈模式");
    shot("maintenance-elder-zh-CN");
    press(&app, "长辈模式");
    press(&app, "关闭");

    // The borrow screens (src/borrow_ui.rs): sign-in after a wrong password, then the demo
    // stack (six lent, one reserved for another reader, one incomplete set).
    let borrow = BorrowUi::attach(&app, &kiosk, demo::verifier());
    // A fixed time on the receipt, so its QR code on the phone page is the same every run.
    borrow.set_receipts(kiosk::receipts::ReceiptOptions {
        mode: kiosk_flows::receipt::ReceiptMode::Ask,
        make: Rc::new(|flow, language| {
            kiosk::receipts::borrow_receipt_at(
                flow,
                language,
                "演示图书馆",
                "lib-selfcheck-01",
                "2026-12-02 18:30",
            )
        }),
        print: None,
        paper_ready: Rc::new(|| true),
    });
    for (suffix, english, elder) in [
        ("zh-CN", false, false),
        ("en", true, false),
        ("elder-zh-CN", false, true),
    ] {
        let l = |zh: &'static str, en: &'static str| if english { en } else { zh };
        press(&app, "开始");
        if english {
            press(&app, "English");
        }
        if elder {
            press(&app, "长辈模式");
        }
        press(&app, l("借书", "Borrow books"));
        for d in demo::CARD.chars() {
            press(&app, &d.to_string());
        }
        press(&app, l("下一步", "Next"));
        for d in "9999".chars() {
            press(&app, &d.to_string());
        }
        press(&app, l("登录", "Sign in"));
        press(&app, "1");
        press(&app, "2");
        shot(&format!("borrow-signin-{suffix}"));
        press(&app, l("删除", "Delete"));
        press(&app, l("删除", "Delete"));
        for d in demo::PIN.chars() {
            press(&app, &d.to_string());
        }
        press(&app, l("登录", "Sign in"));
        demo::feed(&borrow);
        shot(&format!("borrow-stack-{suffix}"));
        press(&app, l("结束", "Finish"));
        if suffix == "zh-CN" {
            shot("borrow-receipt-zh-CN");
        }
        if elder {
            // The receipt as a QR code for the phone, in elder mode's large type.
            press(&app, l("发送到手机", "Send to my phone"));
            shot(&format!("borrow-phone-{suffix}"));
            press(&app, l("完成", "Done"));
        } else {
            press(&app, l("不需要凭条", "No receipt"));
        }
    }
    drop(borrow);
    drop(menu);
    drop(kiosk);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
