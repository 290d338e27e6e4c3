//! Dates: unix seconds to and from HTTP-date (RFC 9110 §5.6.7), to ISO
//! 8601 for `latch sessions` and `<time datetime>`, and to the words a page
//! shows. The calendar arithmetic is Howard
//! Hinnant's `days_from_civil` / `civil_from_days` (proleptic Gregorian).

use std::fmt;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds as IMF-fixdate, the one HTTP-date form a sender may use
/// (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(unix: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    let weekday = DAYS[((unix / 86_400) % 7) as usize];
    format!(
        "{weekday}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT",
        MONTHS[mo - 1]
    )
}

/// Unix seconds as ISO 8601 UTC: `1994-11-06T08:49:37Z`. Written where
/// it is shown (`write!`, `format!`), with no string of its own: a page
/// builds no pieces to copy.
pub fn iso8601(unix: u64) -> impl fmt::Display {
    let (y, mo, d, h, mi, s) = civil(unix);
    fmt::from_fn(move |f| write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
}

/// Unix seconds as a person reads them, on a page: `6 Nov 1994, 08:49 UTC`
/// (written where it is shown, as `iso8601`).
pub fn readable(unix: u64) -> impl fmt::Display {
    let (y, mo, d, h, mi, _) = civil(unix);
    fmt::from_fn(move |f| write!(f, "{d} {} {y}, {h:02}:{mi:02} UTC", MONTHS[mo - 1]))
}

/// Parses an IMF-fixdate; `None` for anything else. RFC 9110 §5.6.7 asks
/// recipients to also accept two obsolete formats; a client that sends one
/// in `If-Modified-Since` simply gets a full 200 instead of a 304.
///
/// Every number is held to the grammar's digit count (`day = 2DIGIT`,
/// `year = 4DIGIT`, each clock field 2DIGIT), so no header value, however
/// many digits it carries, can make the arithmetic below overflow; a date
/// that does not exist (31 Feb, year 0, before 1970) is `None` too, and
/// the caller treats the header as absent.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let mut parts = text.strip_suffix(" GMT")?.split(' ');
    let weekday = parts.next()?.strip_suffix(',')?;
    let day = digits(parts.next()?, 2)?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u64 + 1;
    let year = digits(parts.next()?, 4)?;
    let mut clock = parts.next()?.split(':').map(|n| digits(n, 2));
    let (h, mi, s) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next().is_some() || clock.next().is_some() || !DAYS.contains(&weekday) {
        return None;
    }
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + s)
}

/// A field of exactly `count` ASCII digits, as a number; `None` otherwise
/// (`u64::from_str` would also take a `+` sign, and any length).
fn digits(field: &str, count: usize) -> Option<u64> {
    if field.len() != count || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

/// Days in `month` (1-12) of `year`, Gregorian leap years included.
fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn civil(unix: u64) -> (u64, usize, u64, u64, u64, u64) {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m as usize, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// (year 1970-9999, month, day) to days since 1970-01-01. The bounds keep
/// every product far below `u64::MAX`; `parse_http_date` ensures them.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y % 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_rfc_example() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(iso8601(784_111_777).to_string(), "1994-11-06T08:49:37Z");
        assert_eq!(iso8601(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(readable(784_111_777).to_string(), "6 Nov 1994, 08:49 UTC");
    }

    #[test]
    fn parses_what_it_formats() {
        for t in [0, 784_111_777, 951_782_400, 1_798_761_599, 4_102_444_800] {
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{t}");
        }
    }

    #[test]
    fn refuses_other_shapes_and_numbers_of_any_length() {
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            // Refused, not overflowed: every field is held to its digits.
            "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
            "Sun, 06 Nov 18446744073709551615 08:49:37 GMT",
            "Sun, 06 Nov 9999999999999999999 08:49:37 GMT",
            "Sun, 06 Nov 0000 08:49:37 GMT",
            "Sun, 06 Nov 0 08:49:37 GMT",
            "Sun, 06 Nov 1969 23:59:59 GMT",
            "Sun, 06 Nov 10000 08:49:37 GMT",
            "Sun, 18446744073709551616 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 18446744073709551615:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:99999999999999999999 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_that_do_not_exist_are_refused() {
        assert_eq!(parse_http_date("Thu, 31 Feb 2000 00:00:00 GMT"), None);
        assert_eq!(parse_http_date("Sat, 29 Feb 2100 00:00:00 GMT"), None);
        assert_eq!(parse_http_date("Sun, 31 Apr 2001 00:00:00 GMT"), None);
        assert!(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT").is_some());
        assert!(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT").is_some());
    }

    #[test]
    fn the_last_date_the_grammar_allows_parses() {
        let last = parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(last, Some(253_402_300_799));
        assert_eq!(http_date(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn any_unix_time_formats_without_a_panic() {
        for t in [u64::MAX, u64::MAX - 1, u64::MAX / 2, 253_402_300_800] {
            assert!(http_date(t).ends_with(" GMT"), "{t}");
            assert!(iso8601(t).to_string().ends_with('Z'), "{t}");
            assert!(readable(t).to_string().ends_with(" UTC"), "{t}");
        }
    }
}
