//! The system-call layer: raw calls that rustix and socket2 do not wrap, each behind a safe
//! function with its invariant written down (`// SAFETY:` on every block). Commands, rules
//! and renderers call these instead of `libc`; the kernel interfaces with their own
//! parsers (netlink, bpf(2), setns) live with their collectors in `src/collect/linux/`.

#[cfg(target_os = "linux")]
pub mod bpf_query;
#[cfg(target_os = "linux")]
pub mod child;
#[cfg(target_os = "linux")]
pub mod event_loop;
#[cfg(unix)]
pub mod host;
#[cfg(target_os = "linux")]
pub mod ifaddrs;
#[cfg(target_os = "linux")]
pub mod signals;
#[cfg(target_os = "linux")]
pub mod stdout;
#[cfg(unix)]
pub mod users;
