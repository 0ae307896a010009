//! Card dates: `YYYYMMDD` digits in the text block (devices.md §1.6), the "长期" (long-term)
//! end of validity, and expiry against a date the caller supplies (the driver reads no clock).

use std::fmt;

/// A calendar date as printed on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// A real calendar date, or `None`.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        (year >= 1 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month))
            .then_some(Date { year, month, day })
    }

    /// Parses eight ASCII digits `YYYYMMDD` into a real date.
    pub fn parse_yyyymmdd(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u16>().ok();
        Date::new(n(0..4)?, n(4..6)? as u8, n(6..8)? as u8)
    }

    /// `YYYYMMDD`, as on the card.
    pub fn to_yyyymmdd(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// The civil date `days` after 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
    pub fn from_unix_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: year.clamp(1, 9999) as u16,
            month,
            day,
        }
    }

    /// The date in China (UTC+8) at `unix_seconds`; cards expire by Beijing time.
    pub fn china_date_at(unix_seconds: i64) -> Date {
        Date::from_unix_days((unix_seconds + 8 * 3600).div_euclid(86_400))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// The end of a card's validity: a date, or "长期" (long-term, no end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    Until(Date),
    LongTerm,
}

/// What the card holds in the end-of-validity field for long-term cards.
pub const LONG_TERM: &str = "长期";

impl Validity {
    /// Parses the end-of-validity field: `YYYYMMDD` or "长期".
    pub fn parse(s: &str) -> Option<Validity> {
        if s == LONG_TERM {
            Some(Validity::LongTerm)
        } else {
            Date::parse_yyyymmdd(s).map(Validity::Until)
        }
    }

    /// The field as on the card.
    pub fn to_field(self) -> String {
        match self {
            Validity::Until(d) => d.to_yyyymmdd(),
            Validity::LongTerm => LONG_TERM.to_string(),
        }
    }

    /// Whether the card has expired on `today`. A card is valid through its end date.
    pub fn expired_on(self, today: Date) -> bool {
        match self {
            Validity::Until(end) => today > end,
            Validity::LongTerm => false,
        }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validity::Until(d) => d.fmt(f),
            Validity::LongTerm => f.write_str(LONG_TERM),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_dates_only() {
        assert_eq!(Date::parse_yyyymmdd("19491231"), Date::new(1949, 12, 31));
        assert_eq!(Date::parse_yyyymmdd("20000229").map(|d| d.day), Some(29));
        assert_eq!(Date::parse_yyyymmdd("19000229"), None);
        assert_eq!(Date::parse_yyyymmdd("20231301"), None);
        assert_eq!(Date::parse_yyyymmdd("2023010"), None);
        assert_eq!(Date::parse_yyyymmdd("2023-1-1"), None);
        assert_eq!(Date::parse_yyyymmdd("２０２３０１０１"), None);
    }

    #[test]
    fn long_term_and_expiry() {
        let end = Validity::parse("20300101").unwrap();
        assert!(!end.expired_on(Date::new(2030, 1, 1).unwrap()));
        assert!(end.expired_on(Date::new(2030, 1, 2).unwrap()));
        assert_eq!(Validity::parse("长期"), Some(Validity::LongTerm));
        assert!(!Validity::LongTerm.expired_on(Date::new(9999, 12, 31).unwrap()));
        assert_eq!(Validity::LongTerm.to_field(), "长期");
    }

    #[test]
    fn unix_days_to_civil() {
        assert_eq!(Date::from_unix_days(0), Date::new(1970, 1, 1).unwrap());
        assert_eq!(Date::from_unix_days(11_017), Date::new(2000, 3, 1).unwrap());
        assert_eq!(Date::from_unix_days(-1), Date::new(1969, 12, 31).unwrap());
        // 2024-02-29T16:00:00Z is 2024-03-01 00:00 in Beijing.
        assert_eq!(
            Date::china_date_at(1_709_222_400),
            Date::new(2024, 3, 1).unwrap()
        );
    }
}
