//! System-call layer: the host's interface addresses (getifaddrs), for `why`.

use std::net::Ipv4Addr;

/// Every IPv4 interface address, with its interface's name, as getifaddrs lists them;
/// empty if the call fails.
pub fn ipv4() -> Vec<(String, Ipv4Addr)> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we walk read-only and free once; every pointer is
    // checked for null before it is read, and names are NUL-terminated by getifaddrs.
    unsafe {
        if libc::getifaddrs(&mut ifap) == 0 {
            let mut p = ifap;
            while !p.is_null() {
                let ifa = &*p;
                if !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                        .to_string_lossy()
                        .into_owned();
                    out.push((name, Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes())));
                }
                p = ifa.ifa_next;
            }
            libc::freeifaddrs(ifap);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_listed() {
        let all = super::ipv4();
        assert!(
            all.iter().any(|(_, ip)| ip.is_loopback()),
            "no loopback address in {all:?}"
        );
    }
}
