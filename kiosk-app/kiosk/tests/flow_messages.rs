//! Every message id the flows can produce (`kiosk_flows::message_ids`) and every receipt label
//! (`ReceiptLabels::msgids`) has a non-empty translation in every shipped language of the
//! catalogue the app reads (`kiosk::catalogue`, built from `i18n/<lang>/LC_MESSAGES/kiosk.po`).

use kiosk::catalogue::lookup;
use kiosk::session::Language;
use kiosk_flows::receipt::ReceiptLabels;

#[test]
fn every_flow_message_and_receipt_label_is_translated() {
    let mut ids: Vec<String> = kiosk_flows::message_ids()
        .into_iter()
        .map(str::to_string)
        .collect();
    assert!(ids.len() >= 15, "only {} flow message ids", ids.len());
    ids.extend(ReceiptLabels::msgids());
    for language in [Language::ZhCn, Language::En] {
        let missing: Vec<_> = ids
            .iter()
            .filter(|id| lookup(language, id).is_none_or(|s| s.trim().is_empty()))
            .collect();
        assert!(missing.is_empty(), "{language:?}: untranslated {missing:?}");
    }
}

#[test]
fn the_flows_chinese_receipt_labels_are_the_catalogues() {
    let mut from_catalogue = ReceiptLabels::english()
        .translated(&[], |id| lookup(Language::ZhCn, id).map(str::to_string));
    let built_in = ReceiptLabels::simplified_chinese();
    // Refusal messages are compared by `every_flow_message_and_receipt_label_is_translated`.
    from_catalogue.messages = built_in.messages.clone();
    assert_eq!(from_catalogue, built_in);
}
