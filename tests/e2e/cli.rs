//! The technician CLI's common contract.

use kiosk_tests::kioskctl;

#[test]
fn lists_transports() {
    let out = kioskctl(&["transports"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("serial:PATH@BAUD"));
}

#[test]
fn unknown_subcommand_fails_with_one_line() {
    let out = kioskctl(&["no-such-thing"]);
    assert!(!out.status.success());
}
