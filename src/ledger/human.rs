//! Numbers for people, the same in the console, the headless summary and every report:
//! sizes and offsets in binary units, counts with thousands separators, durations, clock
//! times. Where a rounded value is shown, the exact one is shown beside it in the details.

use time::OffsetDateTime;

/// Bytes in binary units, one decimal: `512 B`, `10.6 KiB`, `4.0 GiB`.
pub fn bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A rate: `2.0 MiB/s`.
pub fn rate(bytes_per_second: u64) -> String {
    format!("{}/s", bytes(bytes_per_second))
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, c) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 file", "3 files".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// Side files a repair regenerated, as the summary and the console say it: a plain `verify`
/// calls them corrupt, so no line may pass them off as repaired.
pub fn regenerated_side_files(n: u64) -> String {
    format!(
        "{} regenerated from the blob's properties, whose MD5 is not the manifest's",
        plural(n, "side file", "side files")
    )
}

/// An offset for a line with little room: `@4.0 GiB` (the details give the exact byte).
pub fn offset(offset: u64) -> String {
    format!("@{}", bytes(offset))
}

/// An exact byte count with its rounded size: `4,286,578,688 B (4.0 GiB)`.
pub fn exact_bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        format!("{} B ({})", count(n), bytes(n))
    }
}

/// A duration: `250 ms`, `35.3 s`, `1 min 15 s`, `2 h 01 min`.
pub fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        let s = seconds as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        let s = seconds as u64;
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// Time left, in whole units: `12 s`, `3 min`, `2 h 05 min`.
pub fn eta(seconds: u64) -> String {
    if seconds < 60 {
        format!("{seconds} s")
    } else if seconds < 3600 {
        format!("{} min", seconds.div_ceil(60))
    } else {
        format!("{} h {:02} min", seconds / 3600, (seconds % 3600) / 60)
    }
}

/// A moment as a date and time in UTC: `2024-05-01 14:03:12 UTC`.
pub fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        clock(at)
    )
}

/// A moment's time of day in UTC: `14:03:12`.
pub fn clock(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(10_884), "10.6 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(rate(2048), "2.0 KiB/s");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(offset(4_286_578_688), "@4.0 GiB");
        assert_eq!(exact_bytes(4_286_578_688), "4,286,578,688 B (4.0 GiB)");
        assert_eq!(exact_bytes(512), "512 B");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(35.31), "35.3 s");
        assert_eq!(duration(75.0), "1 min 15 s");
        assert_eq!(duration(7260.0), "2 h 01 min");
        assert_eq!(eta(12), "12 s");
        assert_eq!(eta(61), "2 min");
        assert_eq!(eta(7500), "2 h 05 min");
        assert_eq!(plural(1, "file", "files"), "1 file");
        assert_eq!(plural(1200, "file", "files"), "1,200 files");
        let at = time::macros::datetime!(2024-05-01 14:03:12 UTC);
        assert_eq!(timestamp(at), "2024-05-01 14:03:12 UTC");
        assert_eq!(clock(at), "14:03:12");
    }
}
