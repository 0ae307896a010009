//! Rust-side translations (spoken prompts, later receipts) from the same gettext catalogues the
//! UI bundles: `i18n/<lang>/LC_MESSAGES/kiosk.po`, compiled into a table by the build script, so
//! the screen, the voice and the paper never disagree. The UI's own `@tr` strings are translated
//! by Slint; this is for text the Rust side composes.

use crate::session::Language;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));
}

/// The translation of `msgid` (an English source string) into `language`; the msgid itself when
/// the catalogue has none (`tests/translations.rs` keeps every prompt translated).
pub fn tr(language: Language, msgid: &str) -> &str {
    lookup(language, msgid).unwrap_or(msgid)
}

/// The translation of `msgid`, if the catalogue of `language` has one.
pub fn lookup(language: Language, msgid: &str) -> Option<&'static str> {
    let (_, entries) = generated::CATALOGUE
        .iter()
        .find(|(lang, _)| *lang == language.bundle())?;
    let i = entries.binary_search_by(|(id, _)| (*id).cmp(msgid)).ok()?;
    Some(entries[i].1)
}

/// `tr` of a prompt with one `{}` placeholder, filled with `value`.
pub fn tr1(language: Language, msgid: &str, value: &str) -> String {
    tr(language, msgid).replacen("{}", value, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_strings_and_fallback() {
        assert_eq!(tr(Language::ZhCn, "Start"), "开始");
        assert_eq!(tr(Language::En, "Start"), "Start");
        assert_eq!(
            tr(Language::ZhCn, "Not in any catalogue"),
            "Not in any catalogue"
        );
        assert_eq!(
            tr1(Language::ZhCn, "The session ends in {} seconds", "15"),
            "15 秒后将结束本次服务"
        );
    }
}
