#!/usr/bin/env python3
"""Regenerates the CJK font embedded in the kiosk binary (kiosk-app/kiosk/ui/fonts/).

A subset of Noto Sans CJK SC (SIL OFL 1.1) from Debian's fonts-noto-cjk, Regular and Bold,
with: ASCII and Latin-1, general punctuation, CJK symbols and punctuation, fullwidth forms, all
6763 GB2312 hanzi, and every character of i18n/*/LC_MESSAGES/*.po, fixtures/sip2/*.json and
kiosk-app/kiosk/ui/*.slint. Needs fontTools (Debian python3-fonttools; packaging/setup-debian.sh
--font installs it):

    /usr/bin/python3 packaging/subset-cjk-font.py

Run it again after adding translations or fixture text with new characters; the kiosk test
`embedded_font_covers_translations` fails when a .po character is missing.
"""
import glob
import os
import sys

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "kiosk-app/kiosk/ui/fonts")
SOURCES = {
    "NotoSansCJKsc-Regular-subset.otf": "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Bold-subset.otf": "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
}
FAMILY = "Noto Sans CJK SC"


def gb2312_hanzi():
    out = []
    for row in range(0xB0, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                out.append(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    assert len(out) == 6763, len(out)
    return out


def text_files():
    pats = ["i18n/*/LC_MESSAGES/*.po", "fixtures/sip2/*.json", "kiosk-app/kiosk/ui/*.slint"]
    for pat in pats:
        yield from sorted(glob.glob(os.path.join(ROOT, pat)))


def codepoints():
    cps = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))
    cps |= set(range(0x2000, 0x2070))  # general punctuation (… — “ ”)
    cps |= set(range(0x3000, 0x3040))  # CJK symbols and punctuation
    cps |= set(range(0xFF00, 0xFFF0))  # halfwidth and fullwidth forms
    cps |= {ord(c) for c in gb2312_hanzi()}
    for path in text_files():
        with open(path, encoding="utf-8") as f:
            cps |= {ord(c) for c in f.read() if ord(c) >= 0x20}
    return cps


def face_sc(ttc_path):
    for font in TTCollection(ttc_path).fonts:
        if font["name"].getDebugName(1) == FAMILY:
            return font
    sys.exit(f"{ttc_path}: no face {FAMILY!r}")


def main():
    cps = codepoints()
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = False
    for name, src in SOURCES.items():
        font = face_sc(src)
        cmap = font.getBestCmap()
        missing = sorted(c for c in cps if c not in cmap and not 0x2000 <= c < 0x2070
                         and not 0xFF00 <= c < 0xFFF0 and not 0x3000 <= c < 0x3040)
        if missing:
            # Symbols Noto CJK lacks (⌫ U+232B, ✗ U+2717 in the .slint files) come from the
            # system's fallback font (DejaVu Sans); list them so a new one is noticed.
            print(f"{src}: not in the font: {' '.join(f'U+{c:04X}' for c in missing)}")
        sub = subset.Subsetter(options)
        sub.populate(unicodes=cps)
        sub.subset(font)
        dest = os.path.join(OUT, name)
        font.save(dest)
        got = len(font.getBestCmap())
        print(f"{dest}: {got} characters, {os.path.getsize(dest)} bytes")


if __name__ == "__main__":
    main()
