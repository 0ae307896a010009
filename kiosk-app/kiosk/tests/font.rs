//! The CJK font embedded in the binary (`ui/fonts/`, imported by `ui/app.slint`) has a glyph for
//! every character of every translation and of the SIP2 fixtures, in both weights. When this
//! fails after a new translation, regenerate the font: `packaging/subset-cjk-font.py`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| keep(p))
        .collect();
    out.sort();
    out
}

/// Every `.po` translation, every SIP2 fixture and every `.slint` source (its symbols such as
/// ✓ × ● ▲ are drawn with the embedded font too).
fn text_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lang in files(&root().join("i18n"), |p| p.is_dir()) {
        let dir = lang.join("LC_MESSAGES");
        if dir.is_dir() {
            out.extend(files(&dir, |p| p.extension().is_some_and(|e| e == "po")));
        }
    }
    out.extend(files(&root().join("fixtures/sip2"), |p| {
        p.extension().is_some_and(|e| e == "json")
    }));
    out.extend(files(&root().join("kiosk-app/kiosk/ui"), |p| {
        p.extension().is_some_and(|e| e == "slint")
    }));
    out
}

#[test]
fn embedded_font_covers_translations() {
    let fonts = root().join("kiosk-app/kiosk/ui/fonts");
    let texts = text_files();
    assert!(
        texts.iter().any(|p| p.to_string_lossy().contains("zh_CN")),
        "the Chinese translation is among {texts:?}"
    );
    for name in [
        "NotoSansCJKsc-Regular-subset.otf",
        "NotoSansCJKsc-Bold-subset.otf",
    ] {
        let data = std::fs::read(fonts.join(name)).unwrap();
        let face = ttf_parser::Face::parse(&data, 0).unwrap();
        assert!(
            face.names()
                .into_iter()
                .any(|n| n.name_id == ttf_parser::name_id::FAMILY
                    && n.to_string().as_deref() == Some("Noto Sans CJK SC")),
            "{name} is Noto Sans CJK SC (the app's default-font-family)"
        );
        for path in &texts {
            let text = std::fs::read_to_string(path).unwrap();
            let mut missing: Vec<char> = text
                .chars()
                .filter(|c| !c.is_control() && face.glyph_index(*c).is_none())
                .collect();
            missing.sort();
            missing.dedup();
            assert!(
                missing.is_empty(),
                "{name} has no glyph for {missing:?} of {}",
                path.display()
            );
        }
        // All GB2312 hanzi and the common CJK punctuation, spot-checked.
        for c in ['啊', '齄', '，', '。', '“', '…', '：', '￥'] {
            assert!(face.glyph_index(c).is_some(), "{name} lacks {c}");
        }
    }
}
