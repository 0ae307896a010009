//! Golden frames and tag data from `fixtures/rfid/` (each file names its origin).

use kiosk_rfid::tagdata::{self, DataModel, iso28560_2, iso28560_3};
use kiosk_rfid::{
    Block, Command, FeigIsoHost, FeigStatus, InventoryEntry, IsoError, ReaderError, ReaderProtocol,
    Response, Rr3036, Rr3036Status, SetInfo, TypeOfUsage, Uid,
};

fn hex_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/rfid")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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

fn uid1() -> Uid {
    "E004010012345678".parse().unwrap()
}

fn uid2() -> Uid {
    "E004015000000002".parse().unwrap()
}

#[test]
fn feig_requests_match_device_vectors() {
    let p = FeigIsoHost::default();
    assert_eq!(
        p.encode(&Command::Inventory { more: false }),
        hex_fixture("feig-inventory-request.hex")
    );
    assert_eq!(
        p.encode(&Command::SystemInfo { uid: uid1() }),
        hex_fixture("feig-sysinfo-request.hex")
    );
    assert_eq!(
        p.decode_request(&hex_fixture("feig-sysinfo-request.hex"))
            .unwrap(),
        Command::SystemInfo { uid: uid1() }
    );
}

#[test]
fn feig_replies_decode() {
    let p = FeigIsoHost::default();
    let inv = Command::Inventory { more: false };
    assert_eq!(
        p.decode(&inv, &hex_fixture("feig-inventory-reply-2tags.hex"))
            .unwrap(),
        Response::Inventory {
            tags: vec![
                InventoryEntry {
                    uid: uid1(),
                    dsfid: 0x06
                },
                InventoryEntry {
                    uid: uid2(),
                    dsfid: 0x00
                },
            ],
            more: false
        }
    );
    let read = Command::ReadBlocks {
        uid: uid1(),
        first: 0,
        count: 2,
    };
    assert_eq!(
        p.decode(&read, &hex_fixture("feig-read-blocks-reply.hex"))
            .unwrap(),
        Response::Blocks(vec![
            Block {
                locked: false,
                data: vec![0x11, 0x01, 0x01, 0x33]
            },
            Block {
                locked: false,
                data: vec![0x30; 4]
            },
        ])
    );
    let afi = Command::WriteAfi {
        uid: uid1(),
        afi: 0xC2,
    };
    assert_eq!(
        p.decode(&afi, &hex_fixture("feig-write-afi-iso-error.hex")),
        Err(ReaderError::Feig(FeigStatus::IsoError(
            IsoError::ProgramFailed
        )))
    );
}

#[test]
fn rr3036_frames() {
    let p = Rr3036::default();
    assert_eq!(
        p.encode(&Command::Inventory { more: false }),
        hex_fixture("rr3036-inventory-request.hex")
    );
    let inv = Command::Inventory { more: false };
    let Response::Inventory { tags, .. } = p
        .decode(&inv, &hex_fixture("rr3036-inventory-reply-2tags.hex"))
        .unwrap()
    else {
        panic!("not an inventory")
    };
    assert_eq!(tags[0].uid, uid1());
    assert_eq!(tags[0].dsfid, 0x06);
    assert_eq!(tags[1].uid, uid2());
    assert_eq!(
        p.decode(&inv, &hex_fixture("rr3036-no-tag-reply.hex"))
            .unwrap(),
        Response::Inventory {
            tags: vec![],
            more: false
        }
    );
    let read = Command::SystemInfo { uid: uid1() };
    assert_eq!(
        p.decode(&read, &hex_fixture("rr3036-no-tag-reply.hex")),
        Err(ReaderError::Rr3036(Rr3036Status::NoTag))
    );
}

#[test]
fn iso28560_3_basic_block_fixture() {
    let b = hex_fixture("iso28560-3-basic-block.hex");
    assert_eq!(tagdata::detect(0, &b), DataModel::Iso28560_3);
    let d = iso28560_3::decode(&b).unwrap();
    assert_eq!(d.primary_item_id, "5010177836");
    assert_eq!(d.owner_institution.as_deref(), Some("DK-710100"));
    assert_eq!(d.set_info, Some(SetInfo { total: 1, part: 1 }));
    assert_eq!(d.type_of_usage, Some(TypeOfUsage { main: 1, sub: 0 }));
    // Our encoder writes exactly the independently built block.
    assert_eq!(iso28560_3::encode(&d).unwrap(), b);
}

#[test]
fn iso28560_2_annex_d_fixture() {
    let b = hex_fixture("iso28560-2-annex-d-primary.hex");
    assert_eq!(tagdata::detect(0x06, &b), DataModel::Iso28560_2);
    assert_eq!(iso28560_2::encoded_len(&b), Some(b.len()));
    assert_eq!(
        iso28560_2::decode(&b).unwrap().primary_item_id,
        "123456789012"
    );
}
