//! System-call layer: facts about this host (its name).

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
