//! System-call layer: the user database (getpwnam_r, getpwuid_r, getgrouplist), for
//! `why --as` and the USER column.

use std::ffi::{CStr, CString};

/// A user's (name, uid, primary gid).
pub type PasswdEntry = (Option<String>, u32, u32);

/// The entry named `name`.
pub fn by_name(name: &str) -> Option<PasswdEntry> {
    let c = CString::new(name).ok()?;
    passwd(|pw, b, l, r| {
        // SAFETY: valid arguments for the duration of the call.
        unsafe { libc::getpwnam_r(c.as_ptr(), pw, b, l, r) }
    })
}

/// The entry for `uid`.
pub fn by_uid(uid: u32) -> Option<PasswdEntry> {
    passwd(|pw, b, l, r| {
        // SAFETY: valid arguments for the duration of the call.
        unsafe { libc::getpwuid_r(uid, pw, b, l, r) }
    })
}

#[cfg(target_os = "linux")]
/// The groups of user `name` whose primary group is `gid` (up to 256), or None if the
/// list does not fit or the name cannot be passed.
pub fn groups(name: &str, gid: u32) -> Option<Vec<u32>> {
    let n = CString::new(name).ok()?;
    let mut list = vec![0 as libc::gid_t; 256];
    let mut count = list.len() as libc::c_int;
    // SAFETY: list has room for `count` entries; getgrouplist says how many it wrote.
    let rc = unsafe { libc::getgrouplist(n.as_ptr(), gid, list.as_mut_ptr(), &mut count) };
    (rc >= 0).then(|| {
        list.truncate(count.max(0) as usize);
        list
    })
}

type PwCall<'a> =
    dyn Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int + 'a;

/// (name, uid, gid) of the entry a getpw*_r call finds.
fn passwd(
    call: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int,
) -> Option<PasswdEntry> {
    let call: &PwCall = &call;
    let mut buf = vec![0u8; 1024];
    // SAFETY: passwd is plain data the call fills in; buf outlives every use of it.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    loop {
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        break;
    }
    let name = (!pw.pw_name.is_null()).then(|| {
        // SAFETY: NUL-terminated by getpw*_r, inside buf.
        unsafe { CStr::from_ptr(pw.pw_name) }
            .to_string_lossy()
            .into_owned()
    });
    Some((name, pw.pw_uid, pw.pw_gid))
}
