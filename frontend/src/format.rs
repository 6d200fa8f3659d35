//! How numbers look on the dashboard: sizes, durations, rates, dates and short ids.
//!
//! Plain functions over plain values: no signals, no browser calls, so they are tested natively
//! with `cargo test -p frontend --lib`.

/// A byte count in binary units: `512 B`, `1.5 KiB`, `20.0 MiB`, `3.25 GiB`. The number
/// shown is always below 1024, except in PiB, the largest unit.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Two decimals for GiB and up, where one decimal hides hundreds of MiB.
    let decimals = |unit: usize| if unit >= 2 { 2 } else { 1 };
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Compared as rounded for printing, so that 1023.96 KiB reads `1.0 MiB`, not `1024.0 KiB`.
    // (`f64::round` breaks ties away from zero and `format!` to even, but no byte count lies
    // exactly halfway at the boundary: 1023.95 and 1023.995 are not multiples of 1/1024.)
    while unit + 1 < UNITS.len() && rounded(value, decimals(unit)) >= 1024.0 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.*} {}", decimals(unit), UNITS[unit])
}

/// `value` rounded to `decimals` places.
fn rounded(value: f64, decimals: usize) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    (value * scale).round() / scale
}

/// An optional size, with a dash when it is unknown.
pub fn human_size_opt(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "—".to_string(), human_size)
}

/// A transfer rate: `1.2 MiB/s`.
pub fn human_rate(bytes_per_sec: f64) -> String {
    format!("{}/s", human_size(bytes_per_sec.max(0.0).round() as u64))
}

/// A duration in its two largest units: `7 s`, `2 min 5 s`, `1 h 4 min`, `3 d 2 h`.
pub fn human_duration(secs: f64) -> String {
    let total = if secs.is_finite() {
        secs.max(0.0).round() as u64
    } else {
        0
    };
    let (d, h, m, s) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, 0) => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        (_, 0, _) => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// How long ago a Unix-millisecond instant was, as seen at `now_ms`: `3 s ago`, `2 min ago`.
///
/// Both must be on one clock: for the peer's times, `now_ms` is our clock plus the peer's
/// offset. Instants in the future (what is left of the skew) count as `0 s ago`.
pub fn ago(now_ms: f64, then_ms: u64) -> String {
    let secs = ((now_ms - then_ms as f64) / 1000.0).max(0.0).floor() as u64;
    match secs {
        0..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// Time left for `remaining` bytes at `bytes_per_sec`, or `None` when the rate says nothing.
pub fn eta(remaining: u64, bytes_per_sec: f64) -> Option<String> {
    if bytes_per_sec.is_finite() && bytes_per_sec > 0.0 {
        Some(human_duration(remaining as f64 / bytes_per_sec))
    } else {
        None
    }
}

/// The first 12 characters of an id, which is enough to tell files apart on screen.
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

/// Completion in percent, when the total is known.
pub fn percent(done: u64, total: Option<u64>) -> Option<f64> {
    match total {
        Some(0) => Some(100.0),
        Some(total) => Some((done as f64 / total as f64 * 100.0).clamp(0.0, 100.0)),
        None => None,
    }
}

/// A Unix time in seconds as `YYYY-MM-DD HH:MM:SS`, shifted east of UTC by `offset_minutes`.
///
/// The caller passes the browser's offset so that dates read in local time; this function has
/// no clock or time-zone database of its own.
pub fn date_time(unix_secs: f64, offset_minutes: i64) -> String {
    let secs = unix_secs.floor() as i64 + offset_minutes * 60;
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// Year, month and day of a count of days since 1970-01-01 (proleptic Gregorian calendar).
///
/// Howard Hinnant's `civil_from_days`: exact for every day, no tables.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let check = |bytes, want: &str| assert_eq!(human_size(bytes), want, "{bytes}");
        check(0, "0 B");
        check(1023, "1023 B");
        check(1024, "1.0 KiB");
        check(1536, "1.5 KiB");
        check(10 * 1024 * 1024, "10.0 MiB");
        check(3 * 1024 * 1024 * 1024 + 256 * 1024 * 1024, "3.25 GiB");
        check(u64::MAX, "16384.00 PiB");
        assert_eq!(human_size_opt(None), "—");
        assert_eq!(human_rate(1536.0), "1.5 KiB/s");
    }

    #[test]
    fn sizes_just_below_a_boundary_move_up_a_unit() {
        let check = |bytes, want: &str| assert_eq!(human_size(bytes), want, "{bytes}");
        // Just below each boundary: the largest count that still rounds down, then the first
        // that would print as 1024 and so moves up a unit.
        check(1_048_524, "1023.9 KiB");
        check(1_048_525, "1.0 MiB");
        check(1024 * 1024 - 1, "1.0 MiB");
        check(1024 * 1024, "1.0 MiB");
        check(1_073_689_395, "1023.9 MiB");
        check(1_073_689_396, "1.00 GiB");
        check((1 << 30) - 1, "1.00 GiB");
        check(1_099_506_259_066, "1023.99 GiB");
        check(1_099_506_259_067, "1.00 TiB");
        check((1 << 40) - 1, "1.00 TiB");
        check((1 << 50) - 1, "1.00 PiB");
        assert_eq!(human_rate(1_048_575.0), "1.0 MiB/s");
    }

    #[test]
    fn durations() {
        let check = |secs, want: &str| assert_eq!(human_duration(secs), want, "{secs}");
        check(0.0, "0 s");
        check(7.4, "7 s");
        check(60.0, "1 min");
        check(125.0, "2 min 5 s");
        check(3600.0, "1 h");
        check(3840.0, "1 h 4 min");
        check(86_400.0, "1 d");
        check(266_400.0, "3 d 2 h");
        check(-5.0, "0 s");
        check(f64::NAN, "0 s");
    }

    #[test]
    fn etas() {
        assert_eq!(eta(1000, 100.0).as_deref(), Some("10 s"));
        assert_eq!(eta(1000, 0.0), None);
        assert_eq!(eta(1000, f64::INFINITY), None);
    }

    #[test]
    fn ages() {
        let now = 1_000_000.0;
        assert_eq!(ago(now, 1_000_000), "0 s ago");
        assert_eq!(ago(now, 997_000), "3 s ago");
        assert_eq!(ago(now, 1_005_000), "0 s ago");
        assert_eq!(ago(now, 1_000_000 - 125_000), "2 min ago");
        assert_eq!(ago(now + 7_200_000.0, 1_000_000), "2 h ago");
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id("ééééééééééééé"), "éééééééééééé");
    }

    #[test]
    fn percents() {
        assert_eq!(percent(50, Some(200)), Some(25.0));
        assert_eq!(percent(0, Some(0)), Some(100.0));
        assert_eq!(percent(300, Some(200)), Some(100.0));
        assert_eq!(percent(5, None), None);
    }

    #[test]
    fn dates() {
        assert_eq!(date_time(0.0, 0), "1970-01-01 00:00:00");
        assert_eq!(date_time(1_750_034_796.902_232_6, 0), "2025-06-16 00:46:36");
        assert_eq!(date_time(1_750_034_796.0, 120), "2025-06-16 02:46:36");
        assert_eq!(date_time(0.0, -60), "1969-12-31 23:00:00");
        assert_eq!(date_time(951_782_400.0, 0), "2000-02-29 00:00:00");
    }
}
