//! Every `@tr("…")` string in the `.slint` sources has a non-empty translation in every shipped
//! `.po` file (`i18n/<lang>/LC_MESSAGES/kiosk.po`), and no `.po` keeps strings the UI dropped.
//! The Rust-side prompts (`kiosk::narrator::PROMPTS`) count as UI strings here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a double-quoted Slint/PO string literal starting at `s[0] == '"'`; returns the text and
/// the rest after the closing quote.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 2..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// The msgids of a Slint source: `@tr("text", …)`, `@tr("ctx" => "text")` and
/// `@tr("one" | "many" % n)` (both forms of a plural).
fn slint_msgids(source: &str, file: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("@tr(") {
        rest = rest[at + 4..].trim_start();
        let (first, after) = string_literal(rest)
            .unwrap_or_else(|| panic!("{}: @tr( without a string literal", file.display()));
        let after = after.trim_start();
        if let Some(ctx_rest) = after.strip_prefix("=>") {
            let (text, after) = string_literal(ctx_rest.trim_start()).expect("@tr context form");
            ids.push(text);
            rest = after;
        } else if let Some(plural_rest) = after.strip_prefix('|') {
            let (plural, after) =
                string_literal(plural_rest.trim_start()).expect("@tr plural form");
            ids.push(first);
            ids.push(plural);
            rest = after;
        } else {
            ids.push(first);
            rest = after;
        }
    }
    ids
}

/// msgid → msgstr (for plurals: msgid_plural → msgstr[0] too) of a `.po` file; the header entry
/// (empty msgid) is left out. Multi-line strings are joined.
fn po_entries(text: &str) -> BTreeMap<String, String> {
    #[derive(PartialEq)]
    enum Field {
        None,
        Id,
        IdPlural,
        Str,
    }
    let mut entries = BTreeMap::new();
    let (mut id, mut id_plural, mut str_) = (String::new(), String::new(), String::new());
    let mut field = Field::None;
    let mut flush = |id: &mut String, id_plural: &mut String, str_: &mut String| {
        if !id.is_empty() {
            entries.insert(std::mem::take(id), str_.clone());
            if !id_plural.is_empty() {
                entries.insert(std::mem::take(id_plural), str_.clone());
            }
        }
        id.clear();
        id_plural.clear();
        str_.clear();
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, value) = match line.find(' ') {
            Some(i) if !line.starts_with('"') => (&line[..i], line[i + 1..].trim()),
            _ => ("", line),
        };
        let literal = string_literal(value)
            .unwrap_or_else(|| panic!("bad .po line: {line}"))
            .0;
        match keyword {
            "msgctxt" => field = Field::None,
            "msgid" => {
                flush(&mut id, &mut id_plural, &mut str_);
                id = literal;
                field = Field::Id;
            }
            "msgid_plural" => {
                id_plural = literal;
                field = Field::IdPlural;
            }
            k if k == "msgstr" || k.starts_with("msgstr[") => {
                // A plural's first form stands for the entry; every form must be non-empty.
                if str_.is_empty() || literal.is_empty() {
                    str_ = literal;
                }
                field = Field::Str;
            }
            "" => match field {
                Field::Id => id.push_str(&literal),
                Field::IdPlural => id_plural.push_str(&literal),
                Field::Str => str_.push_str(&literal),
                Field::None => {}
            },
            other => panic!("unknown .po keyword {other}"),
        }
    }
    flush(&mut id, &mut id_plural, &mut str_);
    entries
}

fn all_msgids() -> BTreeSet<String> {
    let ui = crate_dir().join("ui");
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(&ui).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "slint") {
            let source = std::fs::read_to_string(&path).unwrap();
            ids.extend(slint_msgids(&source, &path));
        }
    }
    // Prompts the Rust side composes (spoken mode) come from the same catalogue.
    ids.extend(kiosk::narrator::PROMPTS.iter().map(|s| s.to_string()));
    // So do the flows' message ids and the receipt labels (`tests/flow_messages.rs`).
    ids.extend(kiosk_flows::message_ids().into_iter().map(str::to_string));
    ids.extend(kiosk_flows::receipt::ReceiptLabels::msgids());
    ids
}

fn shipped_po_files() -> Vec<PathBuf> {
    let i18n = crate_dir().join("../../i18n");
    let mut files: Vec<_> = std::fs::read_dir(&i18n)
        .unwrap()
        .map(|e| e.unwrap().path().join("LC_MESSAGES/kiosk.po"))
        .filter(|p| p.exists())
        .collect();
    files.sort();
    files
}

#[test]
fn the_parsers_understand_the_forms_used() {
    let ids = slint_msgids(
        r#"text: @tr("Hello \"you\""); a: @tr( "ctx" => "Pay {}", x ); b: @tr("{n} item" | "{n} items" % n);"#,
        Path::new("t.slint"),
    );
    assert_eq!(ids, ["Hello \"you\"", "Pay {}", "{n} item", "{n} items"]);
    let po = po_entries(
        "msgid \"\"\nmsgstr \"\"\n\"Language: x\\n\"\n\n# c\nmsgid \"a\"\n\"b\"\nmsgstr \"\"\n\"AB\"\n\nmsgid \"{n} item\"\nmsgid_plural \"{n} items\"\nmsgstr[0] \"{n} 个\"\n",
    );
    assert_eq!(po.get("ab").map(String::as_str), Some("AB"));
    assert_eq!(po.get("{n} items").map(String::as_str), Some("{n} 个"));
    assert!(!po.contains_key(""));
}

#[test]
fn every_ui_string_is_translated_in_every_language() {
    let ids = all_msgids();
    assert!(ids.len() >= 20, "found only {} @tr strings", ids.len());
    let files = shipped_po_files();
    let langs: Vec<_> = files
        .iter()
        .map(|f| {
            f.parent()
                .unwrap()
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        langs.iter().any(|l| l == "zh_CN") && langs.iter().any(|l| l == "en"),
        "zh_CN and en must ship: {langs:?}"
    );
    for file in files {
        let po = po_entries(&std::fs::read_to_string(&file).unwrap());
        let missing: Vec<_> = ids
            .iter()
            .filter(|id| po.get(*id).is_none_or(|s| s.trim().is_empty()))
            .collect();
        assert!(
            missing.is_empty(),
            "{}: untranslated {missing:?}",
            file.display()
        );
        let stale: Vec<_> = po.keys().filter(|k| !ids.contains(*k)).collect();
        assert!(
            stale.is_empty(),
            "{}: strings no longer in the UI {stale:?}",
            file.display()
        );
        // Placeholders survive translation.
        for (id, s) in &po {
            assert_eq!(
                id.matches("{}").count(),
                s.matches("{}").count(),
                "{id} → {s}"
            );
        }
    }
}
