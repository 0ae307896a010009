//! The patron's account and renewals (SIP2 63/64 patron information with its item lists, 17/18
//! item information for due dates and hold pickup, 29/30 renew, 65/66 renew all;
//! `library.md` §1.2, §1.4 summary positions, §5.3 holds shown as they are).

use kiosk_sip2::{CircOptions, Connect};

use crate::borrow::Loan;
use crate::run::{Patron, Sip2Library, refusal};
use crate::{IlsOutcome, Refusal, RefusalReason};

/// One loan on the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLoan {
    pub item_id: String,
    pub title: Option<String>,
    /// Due date as the library system gives it.
    pub due: Option<String>,
}

/// One hold on the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountHold {
    pub item_id: String,
    pub title: Option<String>,
    /// Ready on the hold shelf (SIP2 18 circulation status 08), with the date it waits until.
    pub ready: bool,
    pub pickup_by: Option<String>,
}

/// What the account page shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub loans: Vec<AccountLoan>,
    pub holds: Vec<AccountHold>,
    /// Outstanding fines and fees (SIP2 BV) with the currency (BH), as the library gives them.
    pub fines: Option<String>,
    pub currency: Option<String>,
}

/// Summary positions of SIP2 63 (`library.md` §1.4).
const HOLDS: usize = 0;
const CHARGED: usize = 2;

/// How renewing the whole account went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenewAll {
    pub renewed: Vec<String>,
    pub not_renewed: Vec<String>,
}

impl<C: Connect> Sip2Library<C> {
    /// Loads the account: loans with due dates, holds (ready or not), fines.
    pub fn account(&mut self, patron: &Patron) -> IlsOutcome<Account> {
        let pin = patron.pin.as_deref();
        let charged = match self
            .client
            .patron_information(&patron.id, pin, Some(CHARGED))
        {
            Ok(i) => i,
            Err(e) => return crate::run::offline_or_refused(&e),
        };
        let holds = match self.client.patron_information(&patron.id, pin, Some(HOLDS)) {
            Ok(i) => i,
            Err(e) => return crate::run::offline_or_refused(&e),
        };
        let mut account = Account {
            fines: charged.fee_amount.clone().filter(|f| !f.trim().is_empty()),
            currency: charged.currency_type.clone(),
            ..Account::default()
        };
        for item in &charged.charged_items {
            let info = self.client.item_information(item).ok();
            account.loans.push(AccountLoan {
                item_id: item.clone(),
                title: info.as_ref().and_then(|i| i.title_identifier.clone()),
                due: info.as_ref().and_then(|i| i.due_date.clone()),
            });
        }
        for item in &holds.hold_items {
            let info = self.client.item_information(item).ok();
            account.holds.push(AccountHold {
                item_id: item.clone(),
                title: info.as_ref().and_then(|i| i.title_identifier.clone()),
                ready: info.as_ref().is_some_and(|i| i.circulation_status == "08"),
                pickup_by: info.as_ref().and_then(|i| i.hold_pickup_date.clone()),
            });
        }
        IlsOutcome::Ok(account)
    }

    /// Renews one loan (SIP2 29).
    pub fn renew(&mut self, patron: &Patron, item: &str) -> IlsOutcome<Loan> {
        let options = CircOptions {
            pin: patron.pin.clone(),
            ..CircOptions::default()
        };
        match self.client.renew(&patron.id, item, &options) {
            Ok(r) if r.ok == "1" => IlsOutcome::Ok(Loan {
                title: r.title_identifier.clone(),
                due: r.due_date.clone(),
                desensitize: None,
            }),
            Ok(r) => {
                let mut why = refusal(self.client.settings(), &r.screen_message);
                if why.reason == RefusalReason::Other {
                    why.reason = RefusalReason::RenewalRefused;
                }
                IlsOutcome::Refused(why)
            }
            Err(e) => crate::run::offline_or_refused(&e),
        }
    }

    /// Renews every loan (SIP2 65).
    pub fn renew_all(&mut self, patron: &Patron) -> IlsOutcome<RenewAll> {
        match self.client.renew_all(&patron.id, patron.pin.as_deref()) {
            Ok(r) if r.ok == "1" => IlsOutcome::Ok(RenewAll {
                renewed: r.renewed_items.clone(),
                not_renewed: r.unrenewed_items.clone(),
            }),
            Ok(r) => IlsOutcome::Refused(Refusal {
                reason: RefusalReason::RenewalRefused,
                ils_message: r.screen_message.first().cloned(),
            }),
            Err(e) => crate::run::offline_or_refused(&e),
        }
    }
}
