#!/usr/bin/env python3
"""A toy library system (ILS) speaking SIP2 through PyPI pysip2 0.1.0, for the kiosk's tests.

Written for this project. pysip2 supplies the real SIP2 server (framing, checksums, 96 on a
bad checksum, replay on 97 or a duplicate request, login gating); this file supplies the
library: patrons, items, loans, holds, fines from fixtures/sip2/library.json.

    toy_ils.py [--port 0] [--encoding utf-8|gb18030|cp850] [--crlf] [--accept-crlf]
               [--drop-on ITEM] [--corrupt-once ID] [--timeout-period 030] [--retries 003]

It prints "LISTENING <port>" on stdout once the socket is bound, then serves until killed.

Fault and quirk options (library.md §1.8, §7):
  --crlf          answer with CR LF terminators (Koha's default) instead of pysip2's CR: the
                  server's writer is wrapped so the kiosk's CR LF *reading* meets a real server.
  --accept-crlf   strip the LF that a CR LF client leaves in front of its next message (pysip2
                  alone expects CR and silently drops every message after the first).
  --drop-on ITEM  close the connection, without an answer, the first time a checkout, checkin or
                  renewal of ITEM arrives (a dropped link in the middle of a stack of books).
  --corrupt-once ID  damage the checksum of the first answer with command id ID (e.g. 12); the
                  good answer is kept for the replay that a 97 asks for.
  --delay-once ITEM SECONDS  answer the first request about ITEM only after SECONDS (the kiosk
                  times out and resends; pysip2 replays its answer to the duplicates).
  --idle-timeout SECONDS  pysip2 closes links idle that long (Koha's client_timeout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

import anyio
from pysip2 import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    LoginResponse,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
)
from pysip2.errors import SIP2ProtocolError
from pysip2.routes import (
    CHECKIN,
    CHECKOUT,
    END_PATRON_SESSION,
    FEE_PAID,
    HOLD,
    ITEM_INFORMATION,
    LOGIN,
    PATRON_ENABLE,
    PATRON_INFORMATION,
    PATRON_STATUS,
    RENEW,
    RENEW_ALL,
)
from pysip2.server import SIP2Server

DEFAULT_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sip2" / "library.json"


class FaultyServer(SIP2Server):
    """pysip2's server with the test's quirks switched on by options."""

    def __init__(self, *, crlf: bool, accept_crlf: bool, drop_on: str | None,
                 corrupt_once: str | None, delay_once: tuple[str, float] | None, **kw):
        super().__init__(**kw)
        self.delay_once = delay_once
        self.crlf = crlf
        self.accept_crlf = accept_crlf
        self.drop_on = drop_on
        self.corrupt_once = corrupt_once.encode() if corrupt_once else None

    async def _send(self, stream, state, frame: bytes) -> None:
        if self.crlf and frame.endswith(b"\r"):
            frame = frame + b"\n"
        state.last_response = frame
        if self.corrupt_once and frame.startswith(self.corrupt_once):
            self.corrupt_once = None
            body = bytearray(frame)
            i = body.rfind(b"AZ")
            if i >= 0 and i + 6 <= len(body):
                # One wrong hex digit: the checksum no longer matches.
                body[i + 5] = ord("0") if body[i + 5] != ord("0") else ord("1")
            await stream.send(bytes(body))
            return
        await stream.send(frame)

    async def _process_frame(self, stream, state, frame: bytes) -> None:
        if self.accept_crlf:
            frame = frame.lstrip(b"\n")
            if frame in (b"", b"\r"):
                return
        await super()._process_frame(stream, state, frame)

    async def _dispatch(self, stream, state, decoded) -> None:
        m = decoded.message
        item = getattr(m, "item_identifier", None)
        if (self.drop_on and item == self.drop_on
                and isinstance(m, (CheckoutRequest, CheckinRequest, RenewRequest))):
            self.drop_on = None
            raise SIP2ProtocolError(f"test drop on item {item}")
        if self.delay_once and item == self.delay_once[0]:
            delay = self.delay_once[1]
            self.delay_once = None
            await anyio.sleep(delay)
        await super()._dispatch(stream, state, decoded)


def now18() -> str:
    n = dt.datetime.now()
    return n.strftime("%Y%m%d") + "    " + n.strftime("%H%M%S")


def parse18(s: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(s[:8] + s[12:18], "%Y%m%d%H%M%S")
    except (ValueError, IndexError):
        return None


def fmt18(t: dt.datetime) -> str:
    return t.strftime("%Y%m%d") + "    " + t.strftime("%H%M%S")


class Library:
    def __init__(self, data: dict):
        self.data = data
        self.inst = data["institution_id"]
        self.patrons = {p["id"]: dict(p) for p in data["patrons"]}
        self.items = {i["id"]: dict(i) for i in data["items"]}
        self.loan_days = int(data.get("loan_days", 28))
        self.currency = data.get("currency", "CNY")

    def due_from(self, date18: str) -> str:
        base = parse18(date18) or dt.datetime.now()
        due = (base + dt.timedelta(days=self.loan_days)).replace(hour=23, minute=59, second=0)
        return fmt18(due)

    def status14(self, p: dict | None) -> str:
        flags = [" "] * 14
        if p and p.get("blocked"):
            flags[0] = "Y"   # charge privileges denied
            flags[10] = "Y"  # excessive outstanding fines
        return "".join(flags)

    def pin_ok(self, p: dict | None, pin: str | None) -> str:
        if p is None:
            return "N"
        return "Y" if (pin or "") == p.get("pin", "") else "N"


def build(lib: Library, args) -> SIP2Server:
    app = FaultyServer(
        encoding=args.encoding,
        institution_id=lib.inst,
        library_name=args.library_name or lib.data.get("library_name"),
        terminal_location=lib.data["login"].get("location"),
        timeout_period=args.timeout_period,
        retries_allowed=args.retries,
        login_required=True,
        crlf=args.crlf,
        accept_crlf=args.accept_crlf,
        drop_on=args.drop_on,
        corrupt_once=args.corrupt_once,
        delay_once=(args.delay_once[0], float(args.delay_once[1])) if args.delay_once else None,
        idle_timeout=args.idle_timeout,
    )
    login = lib.data["login"]

    @app.route(LOGIN)
    async def on_login(req: LoginRequest, ctx) -> LoginResponse:
        ok = req.login_user_id == login["user"] and req.login_password == login["password"]
        return LoginResponse(ok="1" if ok else "0")

    @app.route(PATRON_STATUS)
    async def on_patron_status(req: PatronStatusRequest, ctx) -> PatronStatusResponse:
        p = lib.patrons.get(req.patron_identifier)
        screen = ()
        if p is None:
            screen = ("Invalid patron",)
        elif p.get("blocked"):
            screen = (p.get("block_message", "Patron blocked"),)
        return PatronStatusResponse(
            patron_status=lib.status14(p), language=req.language, transaction_date=now18(),
            institution_id=lib.inst, patron_identifier=req.patron_identifier,
            personal_name=p["name"] if p else "", valid_patron="Y" if p else "N",
            valid_patron_password=lib.pin_ok(p, req.patron_password),
            currency_type=lib.currency, fee_amount=p.get("fines", "0.00") if p else None,
            screen_message=screen,
        )

    @app.route(PATRON_INFORMATION)
    async def on_patron_info(req: PatronInformationRequest, ctx) -> PatronInformationResponse:
        p = lib.patrons.get(req.patron_identifier)
        pid = req.patron_identifier
        charged = [i["id"] for i in lib.items.values() if i.get("out_to") == pid]
        holds = [i["id"] for i in lib.items.values() if i.get("hold_for") == pid]
        fine = p.get("fines") if p else None
        s = req.summary
        screen = ()
        if p is None:
            screen = ("Invalid patron",)
        elif p.get("blocked"):
            screen = (p.get("block_message", "Patron blocked"),)
        return PatronInformationResponse(
            patron_status=lib.status14(p), language=req.language, transaction_date=now18(),
            hold_items_count=f"{len(holds):04d}", overdue_items_count="0000",
            charged_items_count=f"{len(charged):04d}",
            fine_items_count="0001" if fine and fine != "0.00" else "0000",
            recall_items_count="0000", unavailable_holds_count="0000",
            institution_id=lib.inst, patron_identifier=pid,
            personal_name=p["name"] if p else "", valid_patron="Y" if p else "N",
            valid_patron_password=lib.pin_ok(p, req.patron_password),
            currency_type=lib.currency, fee_amount=fine,
            hold_items=tuple(holds) if s[0] == "Y" else (),
            charged_items=tuple(charged) if s[2] == "Y" else (),
            email_address=p.get("email") if p else None,
            screen_message=screen,
        )

    def circ_reply(cls, req, ok, item, due, screen, renewal_ok="N"):
        return cls(
            ok="1" if ok else "0", renewal_ok=renewal_ok, magnetic_media="N",
            desensitize="Y" if ok else "N", transaction_date=now18(), institution_id=lib.inst,
            patron_identifier=req.patron_identifier, item_identifier=req.item_identifier,
            title_identifier=item["title"] if item else "", due_date=due or "",
            media_type=item.get("media") if item else None, screen_message=screen,
        )

    @app.route(CHECKOUT)
    async def on_checkout(req: CheckoutRequest, ctx) -> CheckoutResponse:
        p = lib.patrons.get(req.patron_identifier)
        item = lib.items.get(req.item_identifier)
        no_block = req.no_block == "Y"
        if p is None:
            return circ_reply(CheckoutResponse, req, False, item, None, ("Invalid patron",))
        if item is None:
            return circ_reply(CheckoutResponse, req, False, None, None, ("Item not found",))
        if p.get("blocked") and not no_block:
            return circ_reply(CheckoutResponse, req, False, item, None,
                              (p.get("block_message", "Patron blocked"),))
        out_to = item.get("out_to")
        if out_to == p["id"]:
            item["due"] = lib.due_from(req.transaction_date)
            return circ_reply(CheckoutResponse, req, True, item, item["due"],
                              ("Item renewed",), renewal_ok="Y")
        if out_to and not no_block:
            return circ_reply(CheckoutResponse, req, False, item, None,
                              ("Item already checked out to another patron",))
        hold = item.get("hold_for")
        if hold and hold != p["id"] and not no_block:
            return circ_reply(CheckoutResponse, req, False, item, None,
                              ("Item on hold for another patron",))
        if hold == p["id"]:
            item.pop("hold_for", None)
        item["out_to"] = p["id"]
        item["due"] = lib.due_from(req.transaction_date)
        item["checked_out_at"] = req.transaction_date
        screen = ("Offline transaction accepted",) if no_block else ("Checked out",)
        return circ_reply(CheckoutResponse, req, True, item, item["due"], screen)

    @app.route(CHECKIN)
    async def on_checkin(req: CheckinRequest, ctx) -> CheckinResponse:
        item = lib.items.get(req.item_identifier)
        if item is None:
            return CheckinResponse(
                ok="0", resensitize="N", magnetic_media="U", alert="Y", transaction_date=now18(),
                institution_id=lib.inst, item_identifier=req.item_identifier,
                permanent_location="", screen_message=("Item not found",))
        was_out = item.pop("out_to", None)
        item.pop("due", None)
        hold = item.get("hold_for")
        screen = ("Checked in",) if was_out else ("Item was not checked out",)
        if hold:
            screen = (f"Item on hold for {hold}: put it on the hold shelf",)
        return CheckinResponse(
            ok="1", resensitize="Y", magnetic_media="N", alert="Y" if hold else "N",
            transaction_date=now18(), institution_id=lib.inst,
            item_identifier=req.item_identifier, permanent_location="MAIN",
            title_identifier=item["title"], sort_bin="HOLD" if hold else "A1",
            patron_identifier=hold, media_type=item.get("media"), screen_message=screen)

    @app.route(RENEW)
    async def on_renew(req: RenewRequest, ctx) -> RenewResponse:
        item = lib.items.get(req.item_identifier or "")
        if item is None or item.get("out_to") != req.patron_identifier:
            return circ_reply(RenewResponse, req, False, item, None,
                              ("Item not checked out to this patron",))
        if item.get("renew_too_soon"):
            return circ_reply(RenewResponse, req, False, item, item.get("due"),
                              ("Renewal too soon: try again after 2026-03-03",))
        item["due"] = lib.due_from(req.transaction_date)
        return circ_reply(RenewResponse, req, True, item, item["due"], ("Renewed",),
                          renewal_ok="Y")

    @app.route(RENEW_ALL)
    async def on_renew_all(req: RenewAllRequest, ctx) -> RenewAllResponse:
        mine = [i for i in lib.items.values() if i.get("out_to") == req.patron_identifier]
        renewed = [i["id"] for i in mine if not i.get("renew_too_soon")]
        unrenewed = [i["id"] for i in mine if i.get("renew_too_soon")]
        for i in mine:
            if not i.get("renew_too_soon"):
                i["due"] = lib.due_from(req.transaction_date)
        return RenewAllResponse(
            ok="1", renewed_count=f"{len(renewed):04d}", unrenewed_count=f"{len(unrenewed):04d}",
            transaction_date=now18(), institution_id=lib.inst,
            renewed_items=tuple(renewed), unrenewed_items=tuple(unrenewed))

    @app.route(ITEM_INFORMATION)
    async def on_item(req: ItemInformationRequest, ctx) -> ItemInformationResponse:
        item = lib.items.get(req.item_identifier)
        if item is None:
            return ItemInformationResponse(
                circulation_status="01", security_marker="00", fee_type="01",
                transaction_date=now18(), item_identifier=req.item_identifier,
                title_identifier="", screen_message=("Item not found",))
        if item.get("out_to"):
            circ = "04"
        elif item.get("hold_for"):
            circ = "08"
        else:
            circ = "03"
        return ItemInformationResponse(
            circulation_status=circ, security_marker="02", fee_type="01",
            transaction_date=now18(), hold_queue_length="1" if item.get("hold_for") else "0",
            due_date=item.get("due"), item_identifier=item["id"], title_identifier=item["title"],
            owner=lib.inst, media_type=item.get("media"), permanent_location="MAIN",
            current_location="MAIN")

    @app.route(END_PATRON_SESSION)
    async def on_end(req: EndPatronSessionRequest, ctx) -> EndSessionResponse:
        return EndSessionResponse(
            end_session="Y", transaction_date=now18(), institution_id=lib.inst,
            patron_identifier=req.patron_identifier, screen_message=("Goodbye",))

    @app.route(FEE_PAID)
    async def on_fee(req: FeePaidRequest, ctx) -> FeePaidResponse:
        p = lib.patrons.get(req.patron_identifier)
        if p is not None:
            left = max(0.0, float(p.get("fines", "0")) - float(req.fee_amount))
            p["fines"] = f"{left:.2f}"
        return FeePaidResponse(
            payment_accepted="Y" if p else "N", transaction_date=now18(),
            institution_id=lib.inst, patron_identifier=req.patron_identifier,
            transaction_id=req.transaction_id)

    @app.route(HOLD)
    async def on_hold(req: HoldRequest, ctx) -> HoldResponse:
        item = lib.items.get(req.item_identifier or "")
        ok = item is not None and req.patron_identifier in lib.patrons
        if ok and req.hold_mode == "+":
            item.setdefault("hold_for", req.patron_identifier)
        if ok and req.hold_mode == "-" and item.get("hold_for") == req.patron_identifier:
            item.pop("hold_for")
        return HoldResponse(
            ok="1" if ok else "0", available="Y" if ok and not item.get("out_to") else "N",
            transaction_date=now18(), queue_position="1" if ok else None,
            institution_id=lib.inst, patron_identifier=req.patron_identifier,
            item_identifier=req.item_identifier,
            title_identifier=item["title"] if item else None)

    @app.route(PATRON_ENABLE)
    async def on_enable(req: PatronEnableRequest, ctx) -> PatronEnableResponse:
        p = lib.patrons.get(req.patron_identifier)
        return PatronEnableResponse(
            patron_status=lib.status14(p), language="000", transaction_date=now18(),
            institution_id=lib.inst, patron_identifier=req.patron_identifier,
            personal_name=p["name"] if p else "", valid_patron="Y" if p else "N")

    return app


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--encoding", default="utf-8")
    ap.add_argument("--fixture", default=str(DEFAULT_FIXTURE))
    ap.add_argument("--crlf", action="store_true")
    ap.add_argument("--accept-crlf", action="store_true")
    ap.add_argument("--drop-on")
    ap.add_argument("--corrupt-once")
    ap.add_argument("--delay-once", nargs=2, metavar=("ITEM", "SECONDS"))
    ap.add_argument("--idle-timeout", type=float)
    ap.add_argument("--library-name", help="override the fixture's (e.g. for --encoding cp850)")
    ap.add_argument("--timeout-period", default="030")
    ap.add_argument("--retries", default="003")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="toy_ils: %(message)s")
    lib = Library(json.loads(Path(args.fixture).read_text(encoding="utf-8")))
    app = build(lib, args)
    async with app.start(args.host, args.port) as port:
        print(f"LISTENING {port}", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass
