//! Receipts of the book self-checkout: a paper slip (ESC/POS, Chinese), a PDF with a QR code
//! to take on a phone, or none, per library setting and patron choice (issue 5).
//!
//! A [`CircReceipt`] is made from a settled [`BorrowFlow`] ([`LoanReceipt`]) or [`ReturnFlow`]
//! ([`ReturnReceipt`]) with the terminal's [`ReceiptContext`] (library name, terminal id, the
//! date and time — passed in, nothing here reads a clock) and the headings in the patron's
//! language ([`ReceiptLabels`]: [`ReceiptLabels::english`] gives the English texts, which are
//! also the msgids, and [`ReceiptLabels::translated`] maps them through the caller's
//! catalogue). The patron is shown masked (`P0**`) unless the library setting
//! [`PatronOnReceipt::Full`] says otherwise.
//!
//! * [`CircReceipt::to_escpos`] builds the slip with `kiosk-escpos` (Chinese mode, GB18030, the
//!   library name bold and double size, the heading bold, lines broken to the paper's columns,
//!   a QR code of [`CircReceipt::payload`], partial cut).
//! * [`CircReceipt::to_pdf`] draws the same receipt on an 80 mm wide page with `printpdf`: an
//!   embedded CJK font ([`ReceiptFonts`], Noto Sans CJK SC out of the Debian `fonts-noto-cjk`
//!   collection, subset to the characters used, so a receipt is tens of kilobytes, not
//!   megabytes), and the QR code drawn as vector squares.
//! * [`decide`] says what to produce from the library's [`ReceiptMode`], the patron's
//!   [`PatronChoice`] and whether the printer can print now ([`printer_ready`] of its status;
//!   out of paper → the PDF/QR).
//!
//! ## QR payload (`kiosk-receipt/1`)
//!
//! The QR code of both the slip and the PDF holds plain UTF-8 text, one record per line
//! (`\n`), so a phone's camera app shows it readably and a program can parse it:
//!
//! ```text
//! kiosk-receipt/1 loan
//! library 市图书馆
//! terminal SC-01
//! time 2026-12-02 18:30
//! patron P0**
//! item B1 2026-12-30 三体
//! refused B2 OnHoldForAnother 活着
//! ```
//!
//! * Line 1: `kiosk-receipt/1` and the kind, `loan` or `return`.
//! * `library`, `terminal`, `time`, `patron` (left out on a return without sign-in): the rest of
//!   the line is the value, as printed (the patron masked unless the setting says otherwise).
//! * One line per item, in item id order: `item ID DUE TITLE` for a loan (`DUE` is `-` when the
//!   library system gave none), `item ID BIN TITLE` for a return (`BIN` the sort bin or `-`),
//!   `refused ID REASON TITLE` (`REASON` the [`RefusalReason`](crate::RefusalReason) name,
//!   e.g. `OnHoldForAnother`), `staff ID DUE TITLE` for an item the desk must see (lent but
//!   its gate state not set), `waiting ID WHY TITLE` for an item that was not sent (`WHY` is
//!   `IncompleteSet` or `NotForLoan`). Item ids have no spaces (tag barcodes are trimmed); the title is the rest of the line and
//!   may be empty. Line breaks inside values are replaced by spaces.
//! * When the payload would be longer than [`MAX_PAYLOAD`] bytes, every title is left out
//!   (the lines end after the third field and a space).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use kiosk_escpos::{Align, Cut, QrEcc, Receipt};

use crate::Refusal;
use crate::borrow::{Borrow, BorrowFlow};
use crate::giveback::{GiveBack, ReturnFlow};
use crate::pad::PadProblem;
use crate::stack::{LineStatus, StackFlow, Transaction};

/// A borrow receipt.
pub type LoanReceipt = CircReceipt;
/// A return receipt.
pub type ReturnReceipt = CircReceipt;

/// Longest QR payload, in bytes, that keeps its titles: about a version-25 code at level M
/// (117 modules, still 0.4 mm a module in the PDF's 50 mm).
pub const MAX_PAYLOAD: usize = 1200;

/// Characters a line on 58 mm paper (Font A); [`CircReceipt::to_escpos_for`] takes others.
pub const SLIP_COLUMNS: usize = 32;

/// The first word of the QR payload.
pub const PAYLOAD_MAGIC: &str = "kiosk-receipt/1";

/// Where Debian's `fonts-noto-cjk` puts the regular Noto Sans CJK collection.
pub const NOTO_CJK_REGULAR: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
/// The bold collection of the same package.
pub const NOTO_CJK_BOLD: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc";
/// Face index of "Noto Sans CJK SC" in those collections (JP, KR, SC, TC, HK, then Mono).
pub const NOTO_CJK_SC_INDEX: usize = 2;

/// Why a receipt cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("the flow is not settled yet: {0} is still in progress")]
    NotSettled(String),
    #[error("font {path}: {reason}")]
    Font { path: PathBuf, reason: String },
    #[error("QR code: {0}")]
    Qr(String),
    #[error("ESC/POS: {0}")]
    EscPos(#[from] kiosk_escpos::ReceiptError),
}

/// Whether the patron appears on paper in full (library setting) or masked (default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatronOnReceipt {
    #[default]
    Masked,
    Full,
}

/// What the terminal knows about itself and the moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptContext {
    pub library: String,
    pub terminal: String,
    /// Local date and time as printed, e.g. `2026-12-02 18:30`.
    pub time: String,
    pub patron: PatronOnReceipt,
}

/// Headings and notes in the patron's language; the caller translates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLabels {
    /// Heading of a borrow receipt, e.g. `借书凭条`.
    pub loan_title: String,
    /// Heading of a return receipt, e.g. `还书凭条`.
    pub return_title: String,
    pub terminal: String,
    pub time: String,
    pub patron: String,
    pub item_id: String,
    pub due: String,
    pub sort_bin: String,
    /// Note on a returned item another patron has reserved.
    pub on_hold: String,
    /// Note on an item lent offline (recorded, sent to the library system later).
    pub offline: String,
    /// Section of refused / not sent items on a borrow receipt, e.g. `未借出`.
    pub refused: String,
    /// The same on a return receipt, e.g. `未归还`.
    pub refused_return: String,
    /// Note on an item the desk must see (gate state not set).
    pub needs_staff: String,
    /// Note on a set not all on the pad, `{present}` and `{total}` replaced by the counts,
    /// e.g. `套装不全（{present}/{total} 件），请把整套放上`.
    pub incomplete_set: String,
    /// Note on an item that does not circulate, e.g. `此资料不外借`.
    pub not_for_loan: String,
    /// Total line for a borrow, `{n}` replaced by the count, e.g. `共借出 {n} 册`.
    pub total_loans: String,
    /// Total line for a return, e.g. `共归还 {n} 册`.
    pub total_returns: String,
    /// Total of refused items on a borrow receipt, e.g. `未借出 {n} 册`.
    pub total_refused: String,
    /// The same on a return receipt, e.g. `未归还 {n} 册`.
    pub total_refused_return: String,
    /// Text under the QR code, e.g. `扫码把凭条存到手机`.
    pub scan_hint: String,
    /// Last line, e.g. `谢谢，欢迎再来`.
    pub footer: String,
    /// Translations of refusal message ids ([`RefusalReason::message_id`](crate::RefusalReason::message_id)); a missing one is
    /// printed as the message id itself.
    pub messages: BTreeMap<String, String>,
}

impl ReceiptLabels {
    /// Every receipt label msgid (the English labels), for the catalogue completeness test.
    pub fn msgids() -> Vec<String> {
        let ReceiptLabels {
            loan_title,
            return_title,
            terminal,
            time,
            patron,
            item_id,
            due,
            sort_bin,
            on_hold,
            offline,
            refused,
            refused_return,
            needs_staff,
            incomplete_set,
            not_for_loan,
            total_loans,
            total_returns,
            total_refused,
            total_refused_return,
            scan_hint,
            footer,
            messages: _,
        } = Self::english();
        vec![
            loan_title,
            return_title,
            terminal,
            time,
            patron,
            item_id,
            due,
            sort_bin,
            on_hold,
            offline,
            refused,
            refused_return,
            needs_staff,
            incomplete_set,
            not_for_loan,
            total_loans,
            total_returns,
            total_refused,
            total_refused_return,
            scan_hint,
            footer,
        ]
    }

    /// The English labels. They are also the msgids for the translation catalogue
    /// (`i18n/<lang>/LC_MESSAGES/kiosk.po`): [`Self::translated`] looks each one up.
    pub fn english() -> Self {
        ReceiptLabels {
            loan_title: "Borrowing receipt".into(),
            return_title: "Return receipt".into(),
            terminal: "Terminal".into(),
            time: "Time".into(),
            patron: "Reader".into(),
            item_id: "Item".into(),
            due: "Due".into(),
            sort_bin: "Sort bin".into(),
            on_hold: "Reserved by another reader".into(),
            offline: "Borrowed offline; sent to the library system later".into(),
            refused: "Not borrowed".into(),
            refused_return: "Not returned".into(),
            needs_staff: "Please show this item at the desk".into(),
            incomplete_set: "Incomplete set: {present} of {total} parts on the pad".into(),
            not_for_loan: "This item is not for loan".into(),
            total_loans: "Borrowed: {n}".into(),
            total_returns: "Returned: {n}".into(),
            total_refused: "Not borrowed: {n}".into(),
            total_refused_return: "Not returned: {n}".into(),
            scan_hint: "Scan to keep this receipt on your phone".into(),
            footer: "Thank you".into(),
            messages: BTreeMap::new(),
        }
    }

    /// The Simplified Chinese labels (the product's default language), with the refusal a
    /// receipt most often carries translated; other languages come from the catalogue through
    /// [`Self::translated`].
    pub fn simplified_chinese() -> Self {
        let mut messages = BTreeMap::new();
        messages.insert(
            crate::RefusalReason::OnHoldForAnother
                .message_id()
                .to_string(),
            "此书已被其他读者预约，请交到服务台。".to_string(),
        );
        ReceiptLabels {
            loan_title: "自助借书凭条".into(),
            return_title: "自助还书凭条".into(),
            terminal: "终端".into(),
            time: "时间".into(),
            patron: "读者".into(),
            item_id: "条码".into(),
            due: "应还".into(),
            sort_bin: "分拣箱".into(),
            on_hold: "已被预约".into(),
            offline: "离线借出，稍后同步".into(),
            refused: "未借出".into(),
            refused_return: "未归还".into(),
            needs_staff: "请到服务台办理".into(),
            incomplete_set: "套装不全（{present}/{total} 件），请把整套放上".into(),
            not_for_loan: "此资料不外借".into(),
            total_loans: "共借出 {n} 册".into(),
            total_returns: "共归还 {n} 册".into(),
            total_refused: "未借出 {n} 册".into(),
            total_refused_return: "未归还 {n} 册".into(),
            scan_hint: "扫码把凭条存到手机".into(),
            footer: "谢谢，欢迎再来".into(),
            messages,
        }
    }

    /// Every label passed through `tr` (a catalogue lookup, msgid → translation), and the
    /// refusal message ids of `reasons` translated the same way; a label without a translation
    /// stays as it is.
    pub fn translated(
        &self,
        reasons: &[crate::RefusalReason],
        tr: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let t = |s: &String| tr(s).unwrap_or_else(|| s.clone());
        let mut messages = self.messages.clone();
        for r in reasons {
            if let Some(m) = tr(r.message_id()) {
                messages.insert(r.message_id().to_string(), m);
            }
        }
        ReceiptLabels {
            loan_title: t(&self.loan_title),
            return_title: t(&self.return_title),
            terminal: t(&self.terminal),
            time: t(&self.time),
            patron: t(&self.patron),
            item_id: t(&self.item_id),
            due: t(&self.due),
            sort_bin: t(&self.sort_bin),
            on_hold: t(&self.on_hold),
            offline: t(&self.offline),
            refused: t(&self.refused),
            refused_return: t(&self.refused_return),
            needs_staff: t(&self.needs_staff),
            incomplete_set: t(&self.incomplete_set),
            not_for_loan: t(&self.not_for_loan),
            total_loans: t(&self.total_loans),
            total_returns: t(&self.total_returns),
            total_refused: t(&self.total_refused),
            total_refused_return: t(&self.total_refused_return),
            scan_hint: t(&self.scan_hint),
            footer: t(&self.footer),
            messages,
        }
    }

    fn refusal(&self, r: &Refusal) -> String {
        let id = r.reason.message_id();
        self.messages
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// Borrow or return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Loan,
    Return,
}

/// How one item ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Loaned {
        due: Option<String>,
        offline: bool,
    },
    Returned {
        sort_bin: Option<String>,
        on_hold: bool,
        offline: bool,
    },
    /// Accepted by the library system but the gate state is not set: show it at the desk.
    NeedsStaff {
        due: Option<String>,
    },
    Refused(Refusal),
    /// Not sent: an incomplete set or an item that does not circulate.
    NotSent(PadProblem),
}

/// One item on the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptItem {
    pub item_id: String,
    pub title: Option<String>,
    pub outcome: ItemOutcome,
}

impl ReceiptItem {
    fn is_done(&self) -> bool {
        matches!(
            self.outcome,
            ItemOutcome::Loaned { .. }
                | ItemOutcome::Returned { .. }
                | ItemOutcome::NeedsStaff { .. }
        )
    }
}

/// A borrow or return receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircReceipt {
    pub kind: ReceiptKind,
    pub library: String,
    pub terminal: String,
    pub time: String,
    /// As printed: masked unless the library setting says otherwise; `None` on a return.
    pub patron: Option<String>,
    pub items: Vec<ReceiptItem>,
    pub labels: ReceiptLabels,
}

/// Masks a patron identifier or name for paper: the first characters (at most two, at most
/// half) stay, the rest become `*` (`P001` → `P0**`, `张三` → `张*`).
pub fn mask_patron(id: &str) -> String {
    let chars: Vec<char> = id.trim().chars().collect();
    let keep = (chars.len() / 2).min(2);
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep { *c } else { '*' })
        .collect()
}

fn one_line(s: &str) -> String {
    s.split(['\n', '\r']).collect::<Vec<_>>().join(" ")
}

fn in_progress<R>(status: &LineStatus<R>) -> bool {
    matches!(
        status,
        LineStatus::Asking
            | LineStatus::Recording
            | LineStatus::Securing(_)
            | LineStatus::PutBack(_)
    )
}

fn collect<T: Transaction>(
    flow: &StackFlow<T>,
    done: impl Fn(&T::Reply, bool) -> ItemOutcome,
    staff_due: impl Fn(&T::Reply) -> Option<String>,
) -> Result<Vec<ReceiptItem>, ReceiptError> {
    let mut items = Vec::new();
    for line in flow.lines() {
        if in_progress(&line.status) {
            return Err(ReceiptError::NotSettled(line.item_id.clone()));
        }
        let outcome = match &line.status {
            LineStatus::Done(r) => done(r, line.offline),
            LineStatus::NeedsStaff(r, _) => ItemOutcome::NeedsStaff { due: staff_due(r) },
            LineStatus::Refused(r) => ItemOutcome::Refused(r.clone()),
            LineStatus::Waiting(p) => ItemOutcome::NotSent(p.clone()),
            _ => return Err(ReceiptError::NotSettled(line.item_id.clone())),
        };
        items.push(ReceiptItem {
            item_id: line.item_id.clone(),
            title: line.title.clone(),
            outcome,
        });
    }
    Ok(items)
}

impl CircReceipt {
    /// The receipt of a settled borrow flow.
    pub fn from_borrow(
        flow: &BorrowFlow,
        ctx: &ReceiptContext,
        labels: &ReceiptLabels,
    ) -> Result<LoanReceipt, ReceiptError> {
        let items = collect::<Borrow>(
            flow,
            |loan, offline| ItemOutcome::Loaned {
                due: loan.due.clone(),
                offline,
            },
            |loan| loan.due.clone(),
        )?;
        Ok(Self::new(
            ReceiptKind::Loan,
            flow.patron(),
            ctx,
            labels,
            items,
        ))
    }

    /// The receipt of a settled return flow.
    pub fn from_return(
        flow: &ReturnFlow,
        ctx: &ReceiptContext,
        labels: &ReceiptLabels,
    ) -> Result<ReturnReceipt, ReceiptError> {
        let items = collect::<GiveBack>(
            flow,
            |c, offline| ItemOutcome::Returned {
                sort_bin: c.sort_bin.clone(),
                on_hold: c.on_hold,
                offline,
            },
            |_| None,
        )?;
        Ok(Self::new(
            ReceiptKind::Return,
            flow.patron(),
            ctx,
            labels,
            items,
        ))
    }

    fn new(
        kind: ReceiptKind,
        patron: Option<&str>,
        ctx: &ReceiptContext,
        labels: &ReceiptLabels,
        items: Vec<ReceiptItem>,
    ) -> Self {
        let patron = patron.map(|p| match ctx.patron {
            PatronOnReceipt::Masked => mask_patron(p),
            PatronOnReceipt::Full => p.trim().to_string(),
        });
        CircReceipt {
            kind,
            library: ctx.library.clone(),
            terminal: ctx.terminal.clone(),
            time: ctx.time.clone(),
            patron,
            items,
            labels: labels.clone(),
        }
    }

    /// Items lent or returned (including those the desk must see).
    pub fn done_count(&self) -> usize {
        self.items.iter().filter(|i| i.is_done()).count()
    }

    /// Items refused or not sent.
    pub fn refused_count(&self) -> usize {
        self.items.len() - self.done_count()
    }

    /// The QR payload (module doc, `kiosk-receipt/1`). Past [`MAX_PAYLOAD`] bytes (a very
    /// big stack with long titles) the titles are left out, so the code stays small enough to
    /// scan from paper and from a screen.
    pub fn payload(&self) -> String {
        let full = self.payload_with(true);
        if full.len() <= MAX_PAYLOAD {
            full
        } else {
            self.payload_with(false)
        }
    }

    fn payload_with(&self, titles: bool) -> String {
        let mut s = String::new();
        let kind = match self.kind {
            ReceiptKind::Loan => "loan",
            ReceiptKind::Return => "return",
        };
        let _ = writeln!(s, "{PAYLOAD_MAGIC} {kind}");
        let _ = writeln!(s, "library {}", one_line(&self.library));
        let _ = writeln!(s, "terminal {}", one_line(&self.terminal));
        let _ = writeln!(s, "time {}", one_line(&self.time));
        if let Some(p) = &self.patron {
            let _ = writeln!(s, "patron {}", one_line(p));
        }
        for item in &self.items {
            let dash = |v: &Option<String>| v.as_deref().map(one_line).unwrap_or("-".into());
            let (tag, field) = match &item.outcome {
                ItemOutcome::Loaned { due, .. } => ("item", dash(due)),
                ItemOutcome::Returned { sort_bin, .. } => ("item", dash(sort_bin)),
                ItemOutcome::NeedsStaff { due } => ("staff", dash(due)),
                ItemOutcome::Refused(r) => ("refused", format!("{:?}", r.reason)),
                ItemOutcome::NotSent(PadProblem::IncompleteSet { .. }) => {
                    ("waiting", "IncompleteSet".into())
                }
                ItemOutcome::NotSent(PadProblem::NotForLoan) => ("waiting", "NotForLoan".into()),
            };
            let title = match &item.title {
                Some(t) if titles => one_line(t),
                _ => String::new(),
            };
            let _ = writeln!(s, "{tag} {} {field} {title}", item.item_id);
        }
        s.pop();
        s
    }

    fn refused_heading(&self) -> &str {
        match self.kind {
            ReceiptKind::Loan => &self.labels.refused,
            ReceiptKind::Return => &self.labels.refused_return,
        }
    }

    fn heading(&self) -> &str {
        match self.kind {
            ReceiptKind::Loan => &self.labels.loan_title,
            ReceiptKind::Return => &self.labels.return_title,
        }
    }

    /// The receipt as lines of text, grouped as printed: header, items, totals. Both renderings
    /// use it, so paper and PDF say the same.
    fn body(&self) -> Body {
        let l = &self.labels;
        let mut header = vec![
            format!("{}: {}", l.terminal, self.terminal),
            format!("{}: {}", l.time, self.time),
        ];
        if let Some(p) = &self.patron {
            header.push(format!("{}: {}", l.patron, p));
        }
        let mut done = Vec::new();
        let mut refused = Vec::new();
        for item in &self.items {
            let title = item.title.clone().unwrap_or_else(|| item.item_id.clone());
            let mut details = vec![format!("{}: {}", l.item_id, item.item_id)];
            match &item.outcome {
                ItemOutcome::Loaned { due, offline } => {
                    if let Some(d) = due {
                        details[0].push_str(&format!("  {}: {}", l.due, d));
                    }
                    if *offline {
                        details.push(l.offline.clone());
                    }
                }
                ItemOutcome::Returned {
                    sort_bin,
                    on_hold,
                    offline,
                } => {
                    if let Some(b) = sort_bin {
                        details[0].push_str(&format!("  {}: {}", l.sort_bin, b));
                    }
                    if *on_hold {
                        details.push(l.on_hold.clone());
                    }
                    if *offline {
                        details.push(l.offline.clone());
                    }
                }
                ItemOutcome::NeedsStaff { due } => {
                    if let Some(d) = due {
                        details[0].push_str(&format!("  {}: {}", l.due, d));
                    }
                    details.push(l.needs_staff.clone());
                }
                ItemOutcome::Refused(r) => details.push(l.refusal(r)),
                ItemOutcome::NotSent(PadProblem::IncompleteSet { present, total }) => details.push(
                    l.incomplete_set
                        .replace("{present}", &present.to_string())
                        .replace("{total}", &total.to_string()),
                ),
                ItemOutcome::NotSent(PadProblem::NotForLoan) => {
                    details.push(l.not_for_loan.clone())
                }
            }
            let entry = BodyItem { title, details };
            if item.is_done() {
                done.push(entry);
            } else {
                refused.push(entry);
            }
        }
        let total = match self.kind {
            ReceiptKind::Loan => &l.total_loans,
            ReceiptKind::Return => &l.total_returns,
        };
        let mut totals = vec![total.replace("{n}", &self.done_count().to_string())];
        if !refused.is_empty() {
            let total = match self.kind {
                ReceiptKind::Loan => &l.total_refused,
                ReceiptKind::Return => &l.total_refused_return,
            };
            totals.push(total.replace("{n}", &self.refused_count().to_string()));
        }
        Body {
            header,
            done,
            refused,
            totals,
        }
    }

    /// The paper slip: Chinese mode and GB18030 through `kiosk-escpos`, a bold double-size
    /// library name, the heading in bold, the QR code of [`Self::payload`], a partial cut.
    pub fn to_escpos(&self) -> Result<Receipt, ReceiptError> {
        self.to_escpos_for(SLIP_COLUMNS)
    }

    /// The slip for a printer with `columns` characters a line in its standard font (32 on
    /// 58 mm paper, 48 on 80 mm); lines are broken as on the PDF, Chinese characters taking
    /// two columns, wrapped titles hanging under their first character.
    pub fn to_escpos_for(&self, columns: usize) -> Result<Receipt, ReceiptError> {
        let columns = columns.max(16);
        let body = self.body();
        let rule = "-".repeat(columns);
        let fit = |first: &str, rest: &str, s: &str| slip_lines(first, rest, s, columns);
        let mut b = Receipt::builder()
            .align(Align::Center)
            .bold(true)
            .size(2, 2)?
            .line(&slip_lines("", "", &one_line(&self.library), columns / 2))
            .size(1, 1)?
            .line(&fit("", "", self.heading()))
            .bold(false)
            .align(Align::Left)
            .line(&rule);
        for h in &body.header {
            b = b.line(&fit("", "", h));
        }
        b = b.line(&rule);
        for (n, item) in body.done.iter().enumerate() {
            let number = format!("{}. ", n + 1);
            let hang = " ".repeat(number.len());
            b = b
                .bold(true)
                .line(&fit(&number, &hang, &item.title))
                .bold(false);
            for d in &item.details {
                b = b.line(&fit("   ", "   ", d));
            }
        }
        if !body.refused.is_empty() {
            b = b
                .line(&rule)
                .bold(true)
                .line(&fit("", "", self.refused_heading()))
                .bold(false);
            for item in &body.refused {
                b = b.line(&fit("x  ", "   ", &item.title));
                for d in &item.details {
                    b = b.line(&fit("   ", "   ", d));
                }
            }
        }
        b = b.line(&rule);
        for t in &body.totals {
            b = b.line(&fit("", "", t));
        }
        b = b
            .feed(1)
            .align(Align::Center)
            .qr(self.payload().as_bytes(), 5, QrEcc::M)?
            .line(&fit("", "", &self.labels.scan_hint))
            .line(&fit("", "", &self.labels.footer));
        Ok(b.cut(Cut::Partial, 3).build())
    }

    /// Every character the PDF will draw.
    fn pdf_text(&self, body: &Body) -> (String, String) {
        let mut regular = String::new();
        for s in body.header.iter().chain(&body.totals) {
            regular.push_str(s);
        }
        for i in body.done.iter().chain(&body.refused) {
            for d in &i.details {
                regular.push_str(d);
            }
        }
        regular.push_str(&self.labels.scan_hint);
        regular.push_str(&self.labels.footer);
        regular.push_str("0123456789.x ");
        let mut bold = String::new();
        bold.push_str(&self.library);
        bold.push_str(self.heading());
        bold.push_str(self.refused_heading());
        for i in body.done.iter().chain(&body.refused) {
            bold.push_str(&i.title);
        }
        bold.push_str("0123456789. ");
        (regular, bold)
    }

    /// The PDF receipt: one 80 mm wide page as long as the receipt, Noto Sans CJK embedded as
    /// a subset of the characters used, the QR code of [`Self::payload`] as vector squares.
    pub fn to_pdf(&self, fonts: &ReceiptFonts) -> Result<Vec<u8>, ReceiptError> {
        use printpdf::{
            Color, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point,
            Pt, Rect, Rgb, TextItem, WindingOrder,
        };

        let body = self.body();
        let (regular_text, bold_text) = self.pdf_text(&body);
        let regular_font = fonts.regular.subset(&regular_text)?;
        let bold_font = fonts.bold.subset(&bold_text)?;
        let title = format!("{} {}", self.library, self.heading());
        let mut doc = PdfDocument::new(&title);
        let regular_id = doc.add_font(&regular_font);
        let bold_id = doc.add_font(&bold_font);

        let width = Pt::from(Mm(80.0)).0;
        let margin = Pt::from(Mm(6.0)).0;
        let text_width = width - 2.0 * margin;

        // Lay out from the top at y = 0 downwards; flipped once the height is known.
        let mut pieces = Vec::new();
        let mut y = margin;
        let text = |pieces: &mut Vec<Piece>, y: &mut f32, st: Style, s: &str| {
            let f = if st.bold { &bold_font } else { &regular_font };
            let first = text_width - st.indent;
            let lines = wrap(f, s, st.size, first, first - st.hang);
            for (n, part) in lines.into_iter().enumerate() {
                *y += st.size * 1.25;
                let x = if st.centred {
                    margin + (text_width - text_width_of(f, &part, st.size)) / 2.0
                } else if n > 0 {
                    margin + st.indent + st.hang
                } else {
                    margin + st.indent
                };
                pieces.push(Piece::Text {
                    bold: st.bold,
                    size: st.size,
                    x,
                    y: *y,
                    text: part,
                });
                *y += st.size * 0.25;
            }
        };
        let rule = |pieces: &mut Vec<Piece>, y: &mut f32| {
            *y += 5.0;
            pieces.push(Piece::Rule { y: *y });
            *y += 3.0;
        };

        text(&mut pieces, &mut y, Style::LIBRARY, &self.library);
        text(&mut pieces, &mut y, Style::HEADING, self.heading());
        rule(&mut pieces, &mut y);
        for h in &body.header {
            text(&mut pieces, &mut y, Style::BODY, h);
        }
        rule(&mut pieces, &mut y);
        for (n, item) in body.done.iter().enumerate() {
            y += 2.0;
            let number = format!("{}. ", n + 1);
            let title = Style {
                hang: text_width_of(&bold_font, &number, Style::TITLE.size),
                ..Style::TITLE
            };
            text(
                &mut pieces,
                &mut y,
                title,
                &format!("{number}{}", item.title),
            );
            for d in &item.details {
                text(&mut pieces, &mut y, Style::DETAIL, d);
            }
        }
        if !body.refused.is_empty() {
            rule(&mut pieces, &mut y);
            text(&mut pieces, &mut y, Style::TITLE, self.refused_heading());
            for item in &body.refused {
                y += 2.0;
                text(&mut pieces, &mut y, Style::TITLE, &item.title);
                for d in &item.details {
                    text(&mut pieces, &mut y, Style::DETAIL, d);
                }
            }
        }
        rule(&mut pieces, &mut y);
        for t in &body.totals {
            text(&mut pieces, &mut y, Style::TOTAL, t);
        }

        let qr = qr_modules(&self.payload())?;
        let side = qr.len() as f32;
        // Four modules of quiet zone on each side; the code is at most 50 mm wide.
        let module = (Pt::from(Mm(50.0)).0 / (side + 8.0)).min(3.0);
        let qr_size = module * (side + 8.0);
        y += 6.0;
        pieces.push(Piece::Qr {
            x: (width - qr_size) / 2.0 + 4.0 * module,
            y: y + 4.0 * module,
            module,
        });
        y += qr_size;
        text(&mut pieces, &mut y, Style::NOTE, &self.labels.scan_hint);
        y += 4.0;
        text(&mut pieces, &mut y, Style::NOTE, &self.labels.footer);
        let height = y + margin;

        let black = Color::Rgb(Rgb {
            r: 0.0,
            g: 0.0,
            b: 0.0,
            icc_profile: None,
        });
        let fill = |x: f32, top: f32, w: f32, h: f32| Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(x),
                y: Pt(height - top - h),
                width: Pt(w),
                height: Pt(h),
                mode: Some(PaintMode::Fill),
                winding_order: Some(WindingOrder::NonZero),
            },
        };
        let mut ops = vec![Op::SetFillColor { col: black }];
        for p in pieces {
            match p {
                Piece::Text {
                    bold,
                    size,
                    x,
                    y,
                    text,
                } => {
                    let id = if bold { &bold_id } else { &regular_id };
                    ops.extend([
                        Op::StartTextSection,
                        Op::SetFont {
                            font: PdfFontHandle::External(id.clone()),
                            size: Pt(size),
                        },
                        Op::SetTextCursor {
                            pos: Point {
                                x: Pt(x),
                                y: Pt(height - y),
                            },
                        },
                        Op::ShowText {
                            items: vec![TextItem::Text(text)],
                        },
                        Op::EndTextSection,
                    ]);
                }
                Piece::Rule { y } => ops.push(fill(margin, y, text_width, 0.6)),
                Piece::Qr { x, y, module } => {
                    // One rectangle per run of dark modules in a row.
                    for (r, row) in qr.iter().enumerate() {
                        let mut c = 0;
                        while c < row.len() {
                            if !row[c] {
                                c += 1;
                                continue;
                            }
                            let start = c;
                            while c < row.len() && row[c] {
                                c += 1;
                            }
                            ops.push(fill(
                                x + start as f32 * module,
                                y + r as f32 * module,
                                (c - start) as f32 * module,
                                module,
                            ));
                        }
                    }
                }
            }
        }
        let page = PdfPage::new(Mm::from(Pt(width)), Mm::from(Pt(height)), ops);
        let opts = PdfSaveOptions {
            subset_fonts: false,
            ..PdfSaveOptions::default()
        };
        let mut warnings = Vec::new();
        Ok(doc.with_pages(vec![page]).save(&opts, &mut warnings))
    }
}

struct BodyItem {
    title: String,
    details: Vec<String>,
}

struct Body {
    header: Vec<String>,
    done: Vec<BodyItem>,
    refused: Vec<BodyItem>,
    totals: Vec<String>,
}

/// Something drawn on the PDF page, `y` measured from the top.
enum Piece {
    Text {
        bold: bool,
        size: f32,
        x: f32,
        y: f32,
        text: String,
    },
    Rule {
        y: f32,
    },
    Qr {
        x: f32,
        y: f32,
        module: f32,
    },
}

/// How a run of PDF text is set: sizes in points, `indent` from the margin, `hang` the extra
/// indent of wrapped lines.
#[derive(Clone, Copy)]
struct Style {
    bold: bool,
    size: f32,
    indent: f32,
    hang: f32,
    centred: bool,
}

impl Style {
    const BODY: Style = Style {
        bold: false,
        size: 8.5,
        indent: 0.0,
        hang: 0.0,
        centred: false,
    };
    const LIBRARY: Style = Style {
        bold: true,
        size: 15.0,
        centred: true,
        ..Style::BODY
    };
    const HEADING: Style = Style {
        size: 11.0,
        ..Style::LIBRARY
    };
    const TITLE: Style = Style {
        bold: true,
        size: 10.0,
        ..Style::BODY
    };
    const DETAIL: Style = Style {
        indent: 12.0,
        ..Style::BODY
    };
    const TOTAL: Style = Style {
        size: 9.0,
        ..Style::BODY
    };
    const NOTE: Style = Style {
        centred: true,
        ..Style::BODY
    };
}

/// The QR code of `payload` as the PDF and the kiosk's screen draw it: one byte segment after
/// an ECI 26 (UTF-8) designator (ISO/IEC 18004 §7.4.2), so a reader decodes the Chinese as
/// UTF-8 instead of guessing (zbar, for one, takes a short run of CJK text for Shift JIS),
/// error correction level M, the smallest version it fits.
pub fn qr_code(payload: &str) -> Result<qrcode::QrCode, ReceiptError> {
    use qrcode::bits::Bits;
    const UTF_8_ECI: u32 = 26;
    for v in 1..=40 {
        let mut bits = Bits::new(qrcode::Version::Normal(v));
        let fits = bits
            .push_eci_designator(UTF_8_ECI)
            .and_then(|()| bits.push_byte_data(payload.as_bytes()))
            .and_then(|()| bits.push_terminator(qrcode::EcLevel::M));
        if fits.is_ok() {
            return qrcode::QrCode::with_bits(bits, qrcode::EcLevel::M)
                .map_err(|e| ReceiptError::Qr(e.to_string()));
        }
    }
    Err(ReceiptError::Qr(format!(
        "{} bytes do not fit in a QR code",
        payload.len()
    )))
}

fn qr_modules(payload: &str) -> Result<Vec<Vec<bool>>, ReceiptError> {
    let code = qr_code(payload)?;
    let w = code.width();
    let colors = code.to_colors();
    Ok(colors
        .chunks(w)
        .map(|row| row.iter().map(|c| *c == qrcode::Color::Dark).collect())
        .collect())
}

fn char_width(font: &printpdf::ParsedFont, c: char, size: f32) -> f32 {
    let gid = font.lookup_glyph_index(c as u32).unwrap_or(0);
    let adv = font
        .glyph_widths
        .get(&gid)
        .copied()
        .unwrap_or(font.units_per_em);
    adv as f32 * size / font.units_per_em.max(1) as f32
}

fn text_width_of(font: &printpdf::ParsedFont, s: &str, size: f32) -> f32 {
    s.chars().map(|c| char_width(font, c, size)).sum()
}

/// Opening brackets and quotes: a line does not end with one.
const NO_LINE_END: &str = "（(《〈【「『“‘[";
/// Closing punctuation: a line does not start with one.
const NO_LINE_START: &str = "）)》〉】」』”’]，。、：；！？,.:;!?·";

/// Breaks `s` into lines no wider than `first` (then `rest`): at spaces in Latin text, else
/// between characters, as Chinese text breaks, keeping closing punctuation off the start of a
/// line and opening brackets off its end.
fn wrap(font: &printpdf::ParsedFont, s: &str, size: f32, first: f32, rest: f32) -> Vec<String> {
    wrap_by(s, first, rest, |c| char_width(font, c, size))
}

/// Columns a character takes on a receipt printer: ASCII one, anything else (GB18030 double
/// byte in Chinese mode) two.
fn columns_of(c: char) -> f32 {
    if c.is_ascii() { 1.0 } else { 2.0 }
}

/// `s` broken to fit `columns` after the prefixes, the first line after `first`, the others
/// after `rest`, joined with `\n`.
fn slip_lines(first: &str, rest: &str, s: &str, columns: usize) -> String {
    let room = |p: &str| {
        (columns.saturating_sub(p.chars().map(columns_of).sum::<f32>() as usize)).max(4) as f32
    };
    wrap_by(s, room(first), room(rest), columns_of)
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}{l}", if i == 0 { first } else { rest }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`wrap`] with any measure of a character's width.
fn wrap_by(s: &str, first: f32, rest: f32, width: impl Fn(char) -> f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut w = 0.0;
    for c in s.chars() {
        let cw = width(c);
        let max = if lines.is_empty() { first } else { rest };
        if w + cw > max && !line.is_empty() {
            if c == ' ' {
                lines.push(std::mem::take(&mut line));
                w = 0.0;
                continue;
            }
            let space = line.rfind(' ').filter(|&i| i > 0 && line.is_ascii());
            let carry = if let Some(i) = space {
                let carried = line[i + 1..].to_string();
                line.truncate(i);
                carried
            } else {
                // Move characters to the next line while the break would fall after an
                // opening bracket or before closing punctuation.
                let mut carried = String::new();
                let mut next = c;
                while line.chars().count() >= 2 {
                    let last = line.chars().last().unwrap_or(' ');
                    if !(NO_LINE_START.contains(next) || NO_LINE_END.contains(last)) {
                        break;
                    }
                    line.pop();
                    carried.insert(0, last);
                    next = last;
                }
                carried
            };
            lines.push(std::mem::replace(&mut line, carry));
            w = line.chars().map(&width).sum();
        }
        line.push(c);
        w += cw;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// One face of a font file (a single `.ttf`/`.otf`, or a face of a `.ttc` collection), loaded
/// once and subset for each PDF.
pub struct FontFace {
    path: PathBuf,
    bytes: Vec<u8>,
    index: usize,
    cmap: BTreeMap<u32, u16>,
}

impl std::fmt::Debug for FontFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FontFace")
            .field("path", &self.path)
            .field("index", &self.index)
            .field("glyphs_mapped", &self.cmap.len())
            .finish()
    }
}

impl FontFace {
    /// Reads face `index` of the font file at `path`.
    pub fn load(path: &Path, index: usize) -> Result<Self, ReceiptError> {
        let err = |reason: String| ReceiptError::Font {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let mut warnings = Vec::new();
        let parsed = printpdf::ParsedFont::from_bytes(&bytes, index, &mut warnings)
            .ok_or_else(|| err(format!("face {index} cannot be read: {warnings:?}")))?;
        if parsed.codepoint_to_glyph.is_empty() {
            return Err(err("no Unicode cmap".into()));
        }
        Ok(FontFace {
            path: path.to_path_buf(),
            cmap: parsed.codepoint_to_glyph,
            bytes,
            index,
        })
    }

    /// A font with only the glyphs of `text` (and `.notdef`), ready to embed.
    fn subset(&self, text: &str) -> Result<printpdf::ParsedFont, ReceiptError> {
        use allsorts::binary::read::ReadScope;
        use allsorts::font_data::FontData;
        use allsorts::subset::{CmapTarget, SubsetProfile, subset};

        let err = |reason: String| ReceiptError::Font {
            path: self.path.clone(),
            reason,
        };
        let mut gids: Vec<u16> = text
            .chars()
            .filter_map(|c| self.cmap.get(&(c as u32)).copied())
            .filter(|&g| g != 0)
            .collect();
        gids.sort_unstable();
        gids.dedup();
        gids.insert(0, 0);
        let font = ReadScope::new(&self.bytes)
            .read::<FontData<'_>>()
            .map_err(|e| err(e.to_string()))?;
        let provider = font
            .table_provider(self.index)
            .map_err(|e| err(e.to_string()))?;
        let bytes = subset(&provider, &gids, &SubsetProfile::Pdf, CmapTarget::Unicode)
            .map_err(|e| err(format!("subset: {e}")))?;
        let mut warnings = Vec::new();
        let mut parsed = printpdf::ParsedFont::from_bytes(&bytes, 0, &mut warnings)
            .ok_or_else(|| err(format!("subset cannot be read: {warnings:?}")))?;
        // The subset numbers its glyphs in the order asked; map the characters to them
        // whatever cmap the subsetter kept.
        for c in text.chars() {
            if let Some(g) = self.cmap.get(&(c as u32))
                && let Ok(new) = gids.binary_search(g)
            {
                parsed.set_codepoint_mapping(c as u32, new as u16);
            }
        }
        Ok(parsed)
    }
}

/// The fonts a PDF receipt embeds.
#[derive(Debug)]
pub struct ReceiptFonts {
    pub regular: FontFace,
    pub bold: FontFace,
}

impl ReceiptFonts {
    /// Noto Sans CJK SC regular and bold from Debian's `fonts-noto-cjk`.
    pub fn noto_cjk() -> Result<Self, ReceiptError> {
        Ok(ReceiptFonts {
            regular: FontFace::load(Path::new(NOTO_CJK_REGULAR), NOTO_CJK_SC_INDEX)?,
            bold: FontFace::load(Path::new(NOTO_CJK_BOLD), NOTO_CJK_SC_INDEX)?,
        })
    }
}

/// The library setting (`[library] receipt` in the terminal profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiptMode {
    None,
    Print,
    Pdf,
    #[default]
    Ask,
}

impl FromStr for ReceiptMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(ReceiptMode::None),
            "print" => Ok(ReceiptMode::Print),
            "pdf" => Ok(ReceiptMode::Pdf),
            "ask" => Ok(ReceiptMode::Ask),
            other => Err(format!(
                "receipt mode '{other}' is not print, pdf, none or ask"
            )),
        }
    }
}

/// What the patron picked when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatronChoice {
    Paper,
    Phone,
    NoReceipt,
}

/// What to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptDecision {
    Nothing,
    Print,
    /// Show the PDF's QR code; `instead_of_paper` when paper was wanted but the printer
    /// cannot print (out of paper, cover open, offline), so the screen says why.
    Pdf {
        instead_of_paper: bool,
    },
    /// Ask the patron; offer paper only when the printer can print now.
    AskPatron {
        paper: bool,
    },
}

/// Whether a printer in this status can print a receipt now: paper in, cover closed, online,
/// no error (the same rule [`kiosk_devices::printer::check_printable`] applies before printing).
/// A near-end roll still prints.
pub fn printer_ready(status: &kiosk_escpos::PrinterStatus) -> bool {
    kiosk_devices::printer::check_printable(status, "").is_ok()
}

/// Decides the receipt from the library setting, the patron's choice (if asked) and whether
/// the printer can print now.
pub fn decide(
    mode: ReceiptMode,
    choice: Option<PatronChoice>,
    printer_ready: bool,
) -> ReceiptDecision {
    let paper = || {
        if printer_ready {
            ReceiptDecision::Print
        } else {
            ReceiptDecision::Pdf {
                instead_of_paper: true,
            }
        }
    };
    match (mode, choice) {
        (ReceiptMode::None, _) => ReceiptDecision::Nothing,
        (ReceiptMode::Print, _) => paper(),
        (ReceiptMode::Pdf, _) => ReceiptDecision::Pdf {
            instead_of_paper: false,
        },
        (ReceiptMode::Ask, None) => ReceiptDecision::AskPatron {
            paper: printer_ready,
        },
        (ReceiptMode::Ask, Some(PatronChoice::Paper)) => paper(),
        (ReceiptMode::Ask, Some(PatronChoice::Phone)) => ReceiptDecision::Pdf {
            instead_of_paper: false,
        },
        (ReceiptMode::Ask, Some(PatronChoice::NoReceipt)) => ReceiptDecision::Nothing,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::borrow::Loan;
    use crate::offline::OfflineLedger;
    use crate::pad::tests::{tag, uid};
    use crate::stack::StackSettings;
    use crate::{IlsOutcome, RefusalReason, TagWrite};
    use kiosk_escpos::{parse, read_receipts};

    /// The printed lines joined without any whitespace (wrapped lines read as one).
    fn squeezed(lines: &[String]) -> String {
        lines
            .concat()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    }

    fn labels_zh() -> ReceiptLabels {
        ReceiptLabels::simplified_chinese()
    }

    fn ctx() -> ReceiptContext {
        ReceiptContext {
            library: "市图书馆".into(),
            terminal: "SC-01".into(),
            time: "2026-12-02 18:30".into(),
            patron: PatronOnReceipt::Masked,
        }
    }

    fn borrowed() -> BorrowFlow {
        let mut f = BorrowFlow::new(Some("P001".into()), StackSettings::default());
        let mut ledger = OfflineLedger::default();
        f.pad(&[tag(1, "B1"), tag(2, "B2")]);
        f.answered(
            "B1",
            IlsOutcome::Ok(Loan {
                title: Some("三体".into()),
                due: Some("2026-12-30".into()),
                desensitize: Some(true),
            }),
            &mut ledger,
        );
        f.answered(
            "B2",
            IlsOutcome::Refused(Refusal::new(RefusalReason::OnHoldForAnother)),
            &mut ledger,
        );
        f.tag_written(uid(1), TagWrite::ReadBack { afi: 0xC2 });
        f
    }

    #[test]
    fn masking_keeps_at_most_two_and_at_most_half() {
        assert_eq!(mask_patron("P001"), "P0**");
        assert_eq!(mask_patron("张三"), "张*");
        assert_eq!(mask_patron("110101199003071234"), "11****************");
        assert_eq!(mask_patron("7"), "*");
    }

    #[test]
    fn a_borrow_becomes_a_receipt_with_masked_patron_and_payload() {
        let r = CircReceipt::from_borrow(&borrowed(), &ctx(), &labels_zh()).unwrap();
        assert_eq!(r.patron.as_deref(), Some("P0**"));
        assert_eq!((r.done_count(), r.refused_count()), (1, 1));
        assert_eq!(
            r.payload(),
            "kiosk-receipt/1 loan\nlibrary 市图书馆\nterminal SC-01\ntime 2026-12-02 18:30\n\
             patron P0**\nitem B1 2026-12-30 三体\nrefused B2 OnHoldForAnother 书 B2"
        );
        let full = ReceiptContext {
            patron: PatronOnReceipt::Full,
            ..ctx()
        };
        let r = CircReceipt::from_borrow(&borrowed(), &full, &labels_zh()).unwrap();
        assert_eq!(r.patron.as_deref(), Some("P001"));
    }

    #[test]
    fn an_unsettled_flow_has_no_receipt_yet() {
        let mut f = BorrowFlow::new(Some("P001".into()), StackSettings::default());
        f.pad(&[tag(1, "B1")]);
        assert!(matches!(
            CircReceipt::from_borrow(&f, &ctx(), &labels_zh()),
            Err(ReceiptError::NotSettled(id)) if id == "B1"
        ));
    }

    #[test]
    fn the_slip_decodes_to_chinese_text_and_the_payload_qr() {
        let r = CircReceipt::from_borrow(&borrowed(), &ctx(), &labels_zh()).unwrap();
        let printed = read_receipts(&parse(&r.to_escpos().unwrap().to_bytes()).unwrap());
        assert_eq!(printed.len(), 1);
        let lines = printed[0].text_lines();
        assert_eq!(lines[0], "市图书馆");
        assert_eq!(lines[1], "自助借书凭条");
        assert!(lines.contains(&"读者: P0**".to_string()), "{lines:?}");
        assert!(lines.contains(&"1. 三体".to_string()), "{lines:?}");
        assert!(lines.contains(&"   条码: B1  应还: 2026-12-30".to_string()));
        assert!(squeezed(&lines).contains("此书已被其他读者预约，请交到服务台。"));
        for l in &lines {
            let cols: f32 = l.chars().map(columns_of).sum();
            assert!(cols <= SLIP_COLUMNS as f32, "{l:?} is {cols} columns");
        }
        // On 80 mm paper the message fits one line.
        let wide = read_receipts(&parse(&r.to_escpos_for(48).unwrap().to_bytes()).unwrap());
        assert!(
            wide[0]
                .text_lines()
                .contains(&"   此书已被其他读者预约，请交到服务台。".to_string())
        );
        assert!(lines.contains(&"共借出 1 册".to_string()));
        assert!(!lines.iter().any(|l| l.contains("P001")));
        assert_eq!(printed[0].qr_payloads(), [r.payload()]);
        assert_eq!(printed[0].cut(), Some(Cut::Partial));
    }

    #[test]
    fn a_return_receipt_has_no_patron_and_shows_bins_and_holds() {
        use crate::giveback::Checkin;
        let mut f = ReturnFlow::new(None, StackSettings::default());
        let mut ledger = OfflineLedger::default();
        f.pad(&[tag(1, "B1"), tag(2, "B2")]);
        f.answered(
            "B2",
            IlsOutcome::Refused(Refusal::new(RefusalReason::UnknownItem)),
            &mut ledger,
        );
        f.answered(
            "B1",
            IlsOutcome::Ok(Checkin {
                title: Some("活着".into()),
                sort_bin: Some("A3".into()),
                on_hold: true,
                ..Checkin::default()
            }),
            &mut ledger,
        );
        f.tag_written(uid(1), TagWrite::ReadBack { afi: 0x07 });
        let r = CircReceipt::from_return(&f, &ctx(), &labels_zh()).unwrap();
        assert_eq!(r.patron, None);
        assert!(
            r.payload()
                .ends_with("\nitem B1 A3 活着\nrefused B2 UnknownItem 书 B2")
        );
        assert!(!r.payload().contains("patron"));
        let lines =
            read_receipts(&parse(&r.to_escpos().unwrap().to_bytes()).unwrap())[0].text_lines();
        assert!(lines.contains(&"自助还书凭条".to_string()));
        assert!(lines.contains(&"   条码: B1  分拣箱: A3".to_string()));
        assert!(lines.contains(&"   已被预约".to_string()));
        assert!(lines.contains(&"共归还 1 册".to_string()));
        assert!(lines.contains(&"未归还".to_string()), "{lines:?}");
        assert!(lines.contains(&"未归还 1 册".to_string()));
        assert!(!lines.iter().any(|l| l.contains("借出")));
    }

    #[test]
    fn the_mode_follows_setting_choice_and_printer() {
        use PatronChoice::*;
        use ReceiptDecision as D;
        assert_eq!(decide(ReceiptMode::None, Some(Paper), true), D::Nothing);
        assert_eq!(decide(ReceiptMode::Print, None, true), D::Print);
        assert_eq!(
            decide(ReceiptMode::Print, None, false),
            D::Pdf {
                instead_of_paper: true
            }
        );
        assert_eq!(
            decide(ReceiptMode::Pdf, None, true),
            D::Pdf {
                instead_of_paper: false
            }
        );
        assert_eq!(
            decide(ReceiptMode::Ask, None, false),
            D::AskPatron { paper: false }
        );
        assert_eq!(decide(ReceiptMode::Ask, Some(Paper), true), D::Print);
        assert_eq!(
            decide(ReceiptMode::Ask, Some(Paper), false),
            D::Pdf {
                instead_of_paper: true
            }
        );
        assert_eq!(
            decide(ReceiptMode::Ask, Some(Phone), true),
            D::Pdf {
                instead_of_paper: false
            }
        );
        assert_eq!(decide(ReceiptMode::Ask, Some(NoReceipt), true), D::Nothing);
        for s in ["none", "print", "pdf", "ask"] {
            assert!(s.parse::<ReceiptMode>().is_ok());
        }
        assert!("email".parse::<ReceiptMode>().is_err());
    }

    #[test]
    fn the_pdf_embeds_a_small_subset_font() {
        let fonts = ReceiptFonts::noto_cjk().expect("fonts-noto-cjk (packaging/setup-debian.sh)");
        let r = CircReceipt::from_borrow(&borrowed(), &ctx(), &labels_zh()).unwrap();
        let pdf = r.to_pdf(&fonts).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() < 200_000, "{} bytes", pdf.len());
    }

    #[test]
    fn wrapping_keeps_punctuation_rules_and_the_text() {
        let fonts = ReceiptFonts::noto_cjk().expect("fonts-noto-cjk (packaging/setup-debian.sh)");
        let s = "中国古典文学名著插图珍藏本·红楼梦（上下册），“新版”。Second edition, revised";
        let font = fonts.regular.subset(s).unwrap();
        for max in [60.0, 75.0, 90.0, 105.0, 120.0, 150.0] {
            let lines = wrap(&font, s, 10.0, max, max - 8.0);
            assert_eq!(lines.concat().replace(' ', ""), s.replace(' ', ""), "{max}");
            for (i, l) in lines.iter().enumerate() {
                let first = l.chars().next().unwrap();
                let last = l.chars().last().unwrap();
                assert!(i == 0 || !NO_LINE_START.contains(first), "{max}: {lines:?}");
                assert!(
                    i + 1 == lines.len() || !NO_LINE_END.contains(last),
                    "{max}: {lines:?}"
                );
            }
        }
    }

    #[test]
    fn english_labels_are_msgids_and_translate_through_a_catalogue() {
        let zh = labels_zh();
        let en = ReceiptLabels::english();
        let catalogue: BTreeMap<String, String> = [
            (en.loan_title.clone(), zh.loan_title.clone()),
            (en.total_loans.clone(), zh.total_loans.clone()),
            (
                crate::RefusalReason::OnHoldForAnother
                    .message_id()
                    .to_string(),
                "此书已被其他读者预约，请交到服务台。".to_string(),
            ),
        ]
        .into_iter()
        .collect();
        let t = en.translated(&[RefusalReason::OnHoldForAnother], |id| {
            catalogue.get(id).cloned()
        });
        assert_eq!(t.loan_title, "自助借书凭条");
        assert_eq!(t.total_loans, "共借出 {n} 册");
        assert_eq!(t.due, "Due", "untranslated labels stay English");
        assert_eq!(t.messages, zh.messages);

        // An English slip is plain ASCII and needs no Chinese mode for its labels.
        let r = CircReceipt::from_borrow(&borrowed(), &ctx(), &en).unwrap();
        let lines =
            read_receipts(&parse(&r.to_escpos().unwrap().to_bytes()).unwrap())[0].text_lines();
        assert!(
            lines.contains(&"Borrowing receipt".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"   Item: B1  Due: 2026-12-30".to_string()));
        let spaced = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        assert!(spaced.contains(crate::RefusalReason::OnHoldForAnother.message_id()));
        assert!(lines.contains(&"Borrowed: 1".to_string()));
    }

    #[test]
    fn a_huge_stack_drops_the_titles_from_the_qr_but_not_from_the_paper() {
        let mut f = BorrowFlow::new(Some("P001".into()), StackSettings::default());
        let mut ledger = OfflineLedger::default();
        let ids: Vec<String> = (1..=40).map(|n| format!("B{n:02}")).collect();
        let tags: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| tag(i as u8 + 1, id))
            .collect();
        f.pad(&tags);
        for (i, id) in ids.iter().enumerate() {
            let loan = Loan {
                title: Some(format!("中国古典文学名著插图珍藏本 第{i}卷")),
                due: Some("2026-12-30".into()),
                desensitize: Some(true),
            };
            f.answered(id, IlsOutcome::Ok(loan), &mut ledger);
            f.tag_written(uid(i as u8 + 1), TagWrite::ReadBack { afi: 0xC2 });
        }
        let r = CircReceipt::from_borrow(&f, &ctx(), &labels_zh()).unwrap();
        let p = r.payload();
        assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
        assert!(p.contains("\nitem B40 2026-12-30 \n") || p.ends_with("\nitem B40 2026-12-30 "));
        assert!(!p.contains("珍藏本"));
        let printed = read_receipts(&parse(&r.to_escpos().unwrap().to_bytes()).unwrap());
        assert!(squeezed(&printed[0].text_lines()).contains("40.中国古典文学名著插图珍藏本第39卷"));
        assert_eq!(printed[0].qr_payloads(), [p]);
        let fonts = ReceiptFonts::noto_cjk().expect("fonts-noto-cjk (packaging/setup-debian.sh)");
        assert!(r.to_pdf(&fonts).is_ok());
    }

    #[test]
    fn items_not_sent_say_why_on_paper_and_in_the_qr() {
        use crate::pad::tests::tag_with;
        let mut f = BorrowFlow::new(Some("P001".into()), StackSettings::default());
        f.pad(&[
            tag_with(1, "S1", Some((1, 3)), None),
            tag_with(2, "REF", None, Some((2, 0))),
        ]);
        assert!(f.is_settled());
        let r = CircReceipt::from_borrow(&f, &ctx(), &labels_zh()).unwrap();
        assert_eq!((r.done_count(), r.refused_count()), (0, 2));
        assert!(
            r.payload()
                .ends_with("\nwaiting REF NotForLoan 书 REF\nwaiting S1 IncompleteSet 书 S1")
        );
        let lines = read_receipts(&parse(&r.to_escpos_for(48).unwrap().to_bytes()).unwrap())[0]
            .text_lines();
        assert!(lines.contains(&"   此资料不外借".to_string()), "{lines:?}");
        assert!(lines.contains(&"   套装不全（1/3 件），请把整套放上".to_string()));
        assert!(lines.contains(&"共借出 0 册".to_string()));
    }
}
