//! Compiles the .slint UI with the bundled translations from the workspace `i18n/` folder
//! (`i18n/<lang>/LC_MESSAGES/kiosk.po`) and with debug info, which the testing backend's element
//! search needs (Slint 1.18).

fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_bundled_translations("../../i18n")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        .with_debug_info(true);
    slint_build::compile_with_config("ui/app.slint", config).expect("the .slint UI compiles");
    println!("cargo:rerun-if-changed=../../i18n");
}
