//! Compiles the .slint UI with the bundled translations from the workspace `i18n/` folder
//! (`i18n/<lang>/LC_MESSAGES/kiosk.po`) and with debug info, which the testing backend's element
//! search needs (Slint 1.18).
//!
//! The same `.po` files become `$OUT_DIR/catalogue.rs` for Rust-side text (spoken prompts,
//! receipts: `src/catalogue.rs`), read with `rspolib`, the parser Slint's own bundling uses.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_bundled_translations("../../i18n")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        .with_debug_info(true);
    slint_build::compile_with_config("ui/app.slint", config).expect("the .slint UI compiles");
    println!("cargo:rerun-if-changed=../../i18n");
    write_catalogue(Path::new("../../i18n"));
}

/// `CATALOGUE: &[(language folder, &[(msgid, msgstr)] sorted by msgid)]` from every
/// `i18n/<lang>/LC_MESSAGES/kiosk.po`; untranslated, fuzzy, obsolete and plural entries are left
/// out (the lookup falls back to the English msgid).
fn write_catalogue(i18n: &Path) {
    let mut langs: Vec<_> = std::fs::read_dir(i18n)
        .expect("i18n folder")
        .map(|e| e.expect("i18n entry").path())
        .filter(|p| p.join("LC_MESSAGES/kiosk.po").exists())
        .collect();
    langs.sort();
    let mut out = String::from("pub static CATALOGUE: &[(&str, &[(&str, &str)])] = &[\n");
    for dir in langs {
        let lang = dir
            .file_name()
            .unwrap()
            .to_str()
            .expect("UTF-8 folder name");
        let po_path = dir.join("LC_MESSAGES/kiosk.po");
        let po = rspolib::pofile(po_path.as_path())
            .unwrap_or_else(|e| panic!("{}: {e}", po_path.display()));
        let mut entries: Vec<(String, String)> = po
            .entries
            .iter()
            .filter(|e| !e.obsolete && !e.msgid.is_empty() && e.msgid_plural.is_none())
            .filter(|e| !e.flags.iter().any(|f| f == "fuzzy"))
            .filter_map(|e| {
                let s = e.msgstr.as_deref().unwrap_or("");
                (!s.is_empty()).then(|| (e.msgid.clone(), s.to_string()))
            })
            .collect();
        entries.sort();
        entries.dedup_by(|a, b| a.0 == b.0);
        writeln!(out, "    ({lang:?}, &[").unwrap();
        for (id, s) in entries {
            writeln!(out, "        ({id:?}, {s:?}),").unwrap();
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("catalogue.rs");
    std::fs::write(dest, out).expect("write catalogue.rs");
}
