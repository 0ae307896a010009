#!/usr/bin/env python3
"""Drives a SIP2 server with PyPI pysip2 0.1.0's codec, as an outside client of the kiosk's
built-in demo server (kiosk_sip2::DemoServer), so that server is checked by a codec that is not
the kiosk's own. Written for this project.

    demo_client.py HOST PORT

pysip2 has no client class (it is the ACS side); its encode_message/decode_message are the whole
wire codec, strict on decode (checksums over bytes, required fields, fixed widths), so every
answer of the server is decoded by them. UTF-8, CR terminators, checksums on. Prints one line
per step and "OK" at the end; exits 1 with the reason on the first wrong answer.
"""

from __future__ import annotations

import datetime as dt
import socket
import sys

from pysip2 import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    LoginResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    RenewRequest,
    RenewResponse,
    decode_message,
    encode_message,
)
from pysip2.models import ACSStatusResponse, RequestACSResend, RequestSCResend, SCStatusRequest

ENC = "utf-8"


class Fail(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Fail(what)


def now18() -> str:
    n = dt.datetime.now()
    return n.strftime("%Y%m%d") + "    " + n.strftime("%H%M%S")


class Link:
    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.buf = b""
        self.seq = 0

    def send_raw(self, frame: bytes) -> None:
        self.sock.sendall(frame)

    def read_frame(self) -> bytes:
        while b"\r" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise Fail("server closed the connection")
            self.buf += data
        i = self.buf.index(b"\r")
        frame, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
        return frame

    def call(self, msg, expect):
        frame = encode_message(msg, sequence_number=self.seq, checksum=True, encoding=ENC)
        self.send_raw(frame)
        d = decode_message(self.read_frame(), encoding=ENC)
        check(isinstance(d.message, expect), f"expected {expect.__name__}, got {d.message!r}")
        check(d.sequence_number == self.seq, f"sequence {d.sequence_number} != {self.seq}")
        check(d.checksum is not None, "answer without checksum")
        self.seq = (self.seq + 1) % 10
        return d.message


def circ(cls, patron: str, item: str, **kw):
    return cls(
        no_block="N", transaction_date=now18(), nb_due_date=now18(), institution_id="CN-TEST",
        patron_identifier=patron, item_identifier=item, terminal_password="", **kw)


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    link = Link(host, port)

    r = link.call(LoginRequest(uid_algorithm="0", pwd_algorithm="0", login_user_id="kiosk",
                               login_password="secret", location_code="LOBBY-1"), LoginResponse)
    check(r.ok == "1", f"login refused: {r!r}")
    print("login ok")

    s = link.call(SCStatusRequest(status_code="0", max_print_width="040",
                                  protocol_version="2.00"), ACSStatusResponse)
    check(s.online_status == "Y" and s.institution_id == "CN-TEST", f"status {s!r}")
    check(s.library_name == "社区图书馆 Community Library", f"library name {s.library_name!r}")
    check(len(s.supported_messages) == 16, f"BX {s.supported_messages!r}")
    print("status ok", s.supported_messages)

    p = link.call(PatronInformationRequest(
        language="019", transaction_date=now18(), summary="  Y       ", institution_id="CN-TEST",
        patron_identifier="P001", terminal_password="", patron_password="1234"),
        PatronInformationResponse)
    check(p.personal_name == "张三" and p.valid_patron == "Y" and p.valid_patron_password == "Y",
          f"patron {p!r}")
    check(p.charged_items == ("B005",), f"charged {p.charged_items!r}")
    print("patron ok", p.personal_name)

    c = link.call(circ(CheckoutRequest, "P001", "B002", sc_renewal_policy="N"), CheckoutResponse)
    check(c.ok == "1" and c.title_identifier == "活着" and c.desensitize == "Y", f"checkout {c!r}")
    check(bool(c.due_date), "no due date")
    print("checkout ok", c.title_identifier, c.due_date)

    i = link.call(ItemInformationRequest(transaction_date=now18(), institution_id="CN-TEST",
                                         item_identifier="B002"), ItemInformationResponse)
    check(i.circulation_status == "04", f"item after checkout {i!r}")

    blocked = link.call(circ(CheckoutRequest, "P002", "B006", sc_renewal_policy="N"),
                        CheckoutResponse)
    check(blocked.ok == "0" and "blocked" in blocked.screen_message[0], f"blocked {blocked!r}")
    print("blocked patron refused")

    rn = link.call(circ(RenewRequest, "P001", "B005", third_party_allowed="N"), RenewResponse)
    check(rn.ok == "0" and rn.screen_message[0].startswith("Renewal too soon"), f"renew {rn!r}")
    rn = link.call(circ(RenewRequest, "P001", "B002", third_party_allowed="N"), RenewResponse)
    check(rn.ok == "1" and rn.renewal_ok == "Y", f"renew {rn!r}")
    print("renew ok")

    ci = link.call(CheckinRequest(no_block="N", transaction_date=now18(), return_date=now18(),
                                  current_location="LOBBY-1", institution_id="CN-TEST",
                                  item_identifier="B002", terminal_password=""), CheckinResponse)
    check(ci.ok == "1" and ci.sort_bin == "A1", f"checkin {ci!r}")
    ci = link.call(CheckinRequest(no_block="N", transaction_date=now18(), return_date=now18(),
                                  current_location="LOBBY-1", institution_id="CN-TEST",
                                  item_identifier="B004", terminal_password=""), CheckinResponse)
    check(ci.sort_bin == "HOLD" and ci.alert == "Y" and ci.patron_identifier == "P003",
          f"hold checkin {ci!r}")
    print("checkin ok")

    # A damaged checksum is answered 96; 97 replays the last answer.
    good = encode_message(SCStatusRequest(status_code="0", max_print_width="040",
                                          protocol_version="2.00"),
                          sequence_number=link.seq, checksum=True, encoding=ENC)
    bad = bytearray(good)
    bad[-2] = ord("0") if bad[-2] != ord("0") else ord("1")
    link.send_raw(bytes(bad))
    d = decode_message(link.read_frame(), encoding=ENC)
    check(isinstance(d.message, RequestSCResend), f"bad checksum got {d.message!r}")
    link.send_raw(encode_message(RequestACSResend(), checksum=True, encoding=ENC))
    d = decode_message(link.read_frame(), encoding=ENC)
    check(isinstance(d.message, RequestSCResend), f"97 should replay the 96, got {d.message!r}")
    link.send_raw(good)
    d = decode_message(link.read_frame(), encoding=ENC)
    check(isinstance(d.message, ACSStatusResponse), f"resent status got {d.message!r}")
    print("96/97 ok")
    print("OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"FAIL: {e}")
        sys.exit(1)
