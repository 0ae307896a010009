//! SIP2 timestamps (library.md §1.1): 18 characters `YYYYMMDDZZZZHHMMSS`, `ZZZZ` four blanks
//! for local time or `   Z` for UTC. This crate always sends UTC with `   Z`, which needs no
//! time-zone database and is unambiguous; it reads any zone text and treats the time as given.

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's algorithm (public domain, "chrono-Compatible Low-Level Date Algorithms").
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Timestamp {
    /// Now, from the system clock.
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp(secs)
    }

    /// A UTC calendar time; `None` when out of range.
    pub fn from_ymd_hms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Self> {
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        if !(0..=9999).contains(&y) {
            return None;
        }
        let days = days_from_civil(y, mo, d);
        Some(Timestamp(
            days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s),
        ))
    }

    /// The 18-character SIP2 form, UTC (`YYYYMMDD   ZHHMMSS`).
    pub fn to_sip2(self) -> String {
        let (y, m, d) = civil_from_days(self.0.div_euclid(86_400));
        let t = self.0.rem_euclid(86_400);
        format!(
            "{:04}{:02}{:02}   Z{:02}{:02}{:02}",
            y.clamp(0, 9999),
            m,
            d,
            t / 3600,
            (t / 60) % 60,
            t % 60
        )
    }

    /// Reads an 18-character SIP2 date (any zone text), or `YYYYMMDDHHMMSS`, or `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
        let num = |t: &str| t.parse::<u32>().ok();
        let (date, time) = match s.len() {
            18 if s.is_char_boundary(8) && s.is_char_boundary(12) => (&s[..8], &s[12..]),
            14 if s.is_ascii() => (&s[..8], &s[8..]),
            10 if s.is_ascii() && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' => {
                let y = s[..4].parse().ok()?;
                return Self::from_ymd_hms(y, num(&s[5..7])?, num(&s[8..10])?, 0, 0, 0);
            }
            _ => return None,
        };
        if !digits(date) || !digits(time) || date.len() != 8 || time.len() != 6 {
            return None;
        }
        Self::from_ymd_hms(
            date[..4].parse().ok()?,
            num(&date[4..6])?,
            num(&date[6..8])?,
            num(&time[..2])?,
            num(&time[2..4])?,
            num(&time[4..6])?,
        )
    }

    /// This time plus whole days.
    pub fn plus_days(self, days: i64) -> Self {
        Timestamp(self.0 + days * 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = Timestamp::from_ymd_hms(2026, 1, 15, 9, 30, 5).unwrap();
        assert_eq!(t.to_sip2(), "20260115   Z093005");
        assert_eq!(Timestamp::parse(&t.to_sip2()), Some(t));
        assert_eq!(Timestamp::parse("20260115    093005"), Some(t));
        assert_eq!(Timestamp::parse("20260115093005"), Some(t));
        assert_eq!(
            Timestamp::parse("2022-02-26").unwrap().to_sip2(),
            "20220226   Z000000"
        );
        assert_eq!(Timestamp(0).to_sip2(), "19700101   Z000000");
        assert_eq!(t.plus_days(28).to_sip2(), "20260212   Z093005");
        assert_eq!(Timestamp::parse("garbage"), None);
        assert_eq!(Timestamp::parse("20261399    000000"), None);
    }
}
