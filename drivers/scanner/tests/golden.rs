//! Golden scanner output of `fixtures/scanner/serial-lines.hex` through the line decoder, all at
//! once and one byte at a time, and back through the simulator's encoder.

use kiosk_scanner::{
    AimId, AimMode, LineConfig, LineDecoder, Symbology, Terminator, TextEncoding, encode_line,
};

fn hex_fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/scanner/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| c.is_ascii_hexdigit()))
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

fn config(encoding: TextEncoding) -> LineConfig {
    LineConfig {
        terminator: Terminator::CrLf,
        aim: AimMode::Optional,
        encoding,
        ..LineConfig::default()
    }
}

const EXPECTED: [(&str, Symbology); 5] = [
    ("9787111213826", Symbology::EanUpc),
    ("LIB0000042", Symbology::Code128),
    ("借书证 0042", Symbology::QrCode),
    ("您好", Symbology::QrCode),
    ("0106901234567892\u{1d}10ABC", Symbology::DataMatrix),
];

fn decode(stream: &[u8], chunk: usize) -> Vec<(String, Symbology)> {
    let mut d = LineDecoder::new(config(TextEncoding::Auto));
    let mut out = Vec::new();
    for c in stream.chunks(chunk) {
        d.feed(c);
        while let Some(line) = d.next_line() {
            let line = line.expect("golden line decodes");
            out.push((line.text.clone(), line.symbology()));
        }
    }
    assert_eq!(d.pending(), 0);
    out
}

#[test]
fn golden_lines_decode_whole_and_byte_by_byte() {
    let stream = hex_fixture("serial-lines.hex");
    let want: Vec<(String, Symbology)> =
        EXPECTED.iter().map(|(t, s)| (t.to_string(), *s)).collect();
    assert_eq!(decode(&stream, stream.len()), want);
    assert_eq!(decode(&stream, 1), want);
}

#[test]
fn encoder_reproduces_the_golden_bytes() {
    let stream = hex_fixture("serial-lines.hex");
    let aims = ["]E0", "]C0", "]Q1", "]Q1", "]d2"];
    let mut wire = Vec::new();
    for ((text, _), aim) in EXPECTED.iter().zip(aims) {
        let aim = AimId::parse(aim.as_bytes());
        // The fourth code comes from a scanner set to GB18030 (GBK) output.
        let encoding = if *text == "您好" {
            TextEncoding::Gb18030
        } else {
            TextEncoding::Utf8
        };
        wire.extend(encode_line(&config(encoding), text, aim));
    }
    assert_eq!(wire, stream);
}

#[test]
fn golden_stream_cut_anywhere_is_a_typed_error_or_waits() {
    // A stream cut at any byte: the complete lines before the cut decode, the partial last
    // line waits (never a wrong code), and expire() reports it as truncated.
    let stream = hex_fixture("serial-lines.hex");
    for cut in 0..stream.len() {
        let mut d = LineDecoder::new(config(TextEncoding::Auto));
        d.feed(&stream[..cut]);
        let mut n = 0;
        while let Some(line) = d.next_line() {
            let line = line.expect("complete lines decode");
            assert_eq!(line.text, EXPECTED[n].0, "cut at {cut}");
            n += 1;
        }
        // Half a CR LF counts as no terminator: the line is still cut off.
        let partial = d.pending() > 0;
        let expired = d.expire();
        assert_eq!(expired.is_some(), partial, "cut at {cut}: {expired:?}");
    }
}
