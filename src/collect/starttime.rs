//! Collect stage: when processes started, as `ps -o lstart` prints it (local time,
//! "Thu Feb  2 13:29:45 2017"), for the `stime` of ansible-facts. Never prints.

use std::collections::HashMap;

/// Start times of `pids`; a process that exited or cannot be read is left out.
pub fn start_times(pids: impl IntoIterator<Item = u32>) -> HashMap<u32, String> {
    let Some(boot) = boot_time() else {
        return HashMap::new();
    };
    let hz = clock_ticks();
    pids.into_iter()
        .filter_map(|pid| {
            let ticks = start_ticks(pid)?;
            // `ps` divides the same way (whole seconds since boot, rounded down).
            let secs = boot.checked_add(ticks / hz)?;
            Some((pid, lstart(i64::try_from(secs).ok()?)?))
        })
        .collect()
}

/// Boot time in Unix seconds, from /proc/stat's `btime`.
fn boot_time() -> Option<u64> {
    let stat = crate::collect::read_text("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn clock_ticks() -> u64 {
    Some(rustix::param::clock_ticks_per_second())
        .filter(|&h| h > 0)
        .unwrap_or(100)
}

/// Field 22 of /proc/PID/stat: start time in clock ticks after boot. The name (field 2)
/// may hold spaces and parentheses, so count from its last ')'.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = crate::collect::read_text(format!("/proc/{pid}/stat")).ok()?;
    parse_start_ticks(&stat)
}

fn parse_start_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3 (state); field 22 is 19 further on.
    rest.split_whitespace().nth(19)?.parse().ok()
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `ps -o lstart` format ("%a %b %e %H:%M:%S %Y", C locale) in the local time zone.
fn lstart(t: i64) -> Option<String> {
    format_tm(&crate::sys::host::local_time(t)?)
}

fn format_tm(tm: &libc::tm) -> Option<String> {
    Some(format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS.get(usize::try_from(tm.tm_wday).ok()?)?,
        MONTHS.get(usize::try_from(tm.tm_mon).ok()?)?,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        i64::from(tm.tm_year) + 1900
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_counts_fields_after_a_hostile_name() {
        let stat = "42 (a) b) c) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        assert_eq!(parse_start_ticks(stat), Some(98765));
        assert_eq!(parse_start_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn formats_like_ps_lstart() {
        let mut tm = crate::sys::host::zeroed_tm();
        (tm.tm_wday, tm.tm_mon, tm.tm_mday) = (4, 1, 2);
        (tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year) = (13, 29, 45, 117);
        assert_eq!(format_tm(&tm).unwrap(), "Thu Feb  2 13:29:45 2017");
        tm.tm_mday = 12;
        assert_eq!(format_tm(&tm).unwrap(), "Thu Feb 12 13:29:45 2017");
    }

    #[test]
    fn own_start_time_is_known_and_ps_shaped() {
        let me = std::process::id();
        let map = start_times([me, u32::MAX]);
        let s = &map[&me];
        assert_eq!(map.len(), 1, "a missing PID is left out");
        assert_eq!(s.len(), 24, "{s:?}");
        assert!(
            DAYS.contains(&&s[..3]) && MONTHS.contains(&&s[4..7]),
            "{s:?}"
        );
    }
}
