//! System-call layer: facts about this host and process (its name, CPU time, local time).

use std::time::Duration;

/// This host's name (uname's nodename); empty if the call fails.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// User plus system CPU time of this process, every thread included (getrusage; rustix
/// has no wrapper).
pub fn cpu_time() -> Duration {
    // SAFETY: getrusage fills a zeroed local struct; RUSAGE_SELF is always valid.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// `t` broken down in the local time zone (localtime_r: glibc reads TZ and
/// /etc/localtime on first use, as ps does); None if it cannot be.
pub fn local_time(t: i64) -> Option<libc::tm> {
    // time_t by inference: the alias is deprecated on musl (its width changes there), and
    // it is i64 on some targets only.
    #[allow(clippy::useless_conversion)]
    let t = t.try_into().ok()?;
    let mut tm = zeroed_tm();
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    (!r.is_null()).then_some(tm)
}

/// A `tm` with every field zero (and no time zone name).
pub fn zeroed_tm() -> libc::tm {
    // SAFETY: tm is plain data (integers and one pointer); all zeroes is a valid value.
    unsafe { std::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostname_matches_uname() {
        let uname = rustix::system::uname();
        assert_eq!(
            super::hostname(),
            uname.nodename().to_string_lossy().into_owned()
        );
    }
}
