//! Collect stage, Linux: the BPF event source. Four programs (events_prog.rs) report each
//! TCP state change, each successful bind() and each UDP release into a ring buffer, with
//! the process that did it; a full ring is counted, never silent. Everything is detached
//! and freed when the [`EventSource`] is dropped (its descriptors are the only references).
//!
//! Needs Linux >= 5.8 (ring buffer) with BTF and trampolines (fentry/fexit), and
//! CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN).

use super::btf;
use super::events_prog::{self as prog, Layout, Maps};
use super::loader;
use super::BpfError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;
const RINGBUF_BUSY: u32 = 1 << 31;
const RINGBUF_DISCARD: u32 = 1 << 30;
const RINGBUF_HDR: usize = 8;

/// The ring's size when the caller has no reason to pick another: 4,600 events.
pub const DEFAULT_RING_BYTES: usize = 512 * 1024;

/// Which hook reported an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// A TCP state change (sock:inet_sock_set_state).
    State,
    /// A successful bind().
    Bind,
    /// A UDP socket (or a TCP one that never listened nor connected) released.
    Release,
}

/// One record as the kernel wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelEvent {
    pub kind: EventKind,
    /// Kernel state numbers (tcp_states.h); equal for bind and release.
    pub old_state: u8,
    pub new_state: u8,
    /// IPPROTO_TCP (6) or IPPROTO_UDP (17).
    pub protocol: u8,
    /// True for an AF_INET6 socket.
    pub ipv6: bool,
    pub v6only: bool,
    pub local: SocketAddr,
    /// Port 0 when there is no peer.
    pub remote: SocketAddr,
    /// Inode of the socket's network namespace.
    pub netns: u64,
    /// The socket's inode (sockfs); 0 once the socket has no file (closed, orphaned).
    pub inode: u64,
    /// The actor: the task whose system call (or exit) caused the event, in the initial
    /// PID namespace.
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub cgroup_id: u64,
    pub comm: String,
    /// CLOCK_MONOTONIC nanoseconds when it happened.
    pub ktime_ns: u64,
}

impl KernelEvent {
    /// Decodes one record (native endian; ports as the kernel keeps them).
    pub fn parse(b: &[u8]) -> Option<KernelEvent> {
        if b.len() < prog::EVENT_LEN {
            return None;
        }
        let at = |o: i16| o as usize;
        let u16_at = |o: i16| u16::from_ne_bytes([b[at(o)], b[at(o) + 1]]);
        let u32_at =
            |o: i16| u32::from_ne_bytes(b[at(o)..at(o) + 4].try_into().unwrap_or_default());
        let u64_at =
            |o: i16| u64::from_ne_bytes(b[at(o)..at(o) + 8].try_into().unwrap_or_default());
        let v6 = |o: i16| {
            let a: [u8; 16] = b[at(o)..at(o) + 16].try_into().unwrap_or_default();
            Ipv6Addr::from(a)
        };
        let kind = match b[0] as i32 {
            prog::KIND_STATE => EventKind::State,
            prog::KIND_BIND => EventKind::Bind,
            prog::KIND_RELEASE => EventKind::Release,
            _ => return None,
        };
        let ipv6 = u16_at(prog::OFF_FAMILY) == 10;
        // skc_rcv_saddr and skc_daddr are in network order in memory: their bytes are the
        // address.
        let v4 =
            |o: i16| Ipv4Addr::from(<[u8; 4]>::try_from(&b[at(o)..at(o) + 4]).unwrap_or_default());
        let (laddr, raddr): (IpAddr, IpAddr) = if ipv6 {
            (v6(prog::OFF_LADDR6).into(), v6(prog::OFF_RADDR6).into())
        } else {
            (v4(prog::OFF_LADDR4).into(), v4(prog::OFF_RADDR4).into())
        };
        let comm = &b[at(prog::OFF_COMM)..at(prog::OFF_COMM) + 16];
        let end = comm.iter().position(|&c| c == 0).unwrap_or(16);
        Some(KernelEvent {
            kind,
            old_state: b[at(prog::OFF_OLD)],
            new_state: b[at(prog::OFF_NEW)],
            protocol: u16_at(prog::OFF_PROTO) as u8,
            ipv6,
            v6only: b[at(prog::OFF_V6ONLY)] != 0,
            local: SocketAddr::new(laddr, u16_at(prog::OFF_LPORT)),
            remote: SocketAddr::new(raddr, u16::from_be(u16_at(prog::OFF_RPORT))),
            netns: u64::from(u32_at(prog::OFF_NETNS)),
            inode: u64_at(prog::OFF_INODE),
            pid: u32_at(prog::OFF_TGID),
            tid: u32_at(prog::OFF_TID),
            uid: u32_at(prog::OFF_UID),
            cgroup_id: u64_at(prog::OFF_CGROUP),
            comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
            ktime_ns: u64_at(prog::OFF_KTIME),
        })
    }
}

/// The ring buffer's two mappings: the consumer page (ours to write) and the producer
/// page followed by the data, mapped twice in a row so a record never wraps.
struct Ring {
    consumer: *mut libc::c_void,
    producer: *mut libc::c_void,
    page: usize,
    size: usize,
}

impl Ring {
    fn map(fd: &OwnedFd, size: usize) -> Result<Ring, BpfError> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let map = |len: usize, prot: i32, off: usize| {
            // SAFETY: a fresh shared mapping of the ring buffer map's descriptor, at the
            // offsets and lengths the kernel defines for it; checked below.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    prot,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    off as libc::off_t,
                )
            };
            if p == libc::MAP_FAILED {
                let e = std::io::Error::last_os_error();
                return Err(BpfError::classify("map the ring buffer", &e, ""));
            }
            Ok(p)
        };
        let consumer = map(page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = match map(page + 2 * size, libc::PROT_READ, page) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: unmaps exactly the mapping made just above, once.
                unsafe { libc::munmap(consumer, page) };
                return Err(e);
            }
        };
        Ok(Ring {
            consumer,
            producer,
            page,
            size,
        })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page starts with the kernel's u64 consumer position,
        // 8-aligned (page-aligned), alive as long as self.
        unsafe { &*(self.consumer as *const AtomicU64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as above, the producer page starts with the producer position.
        unsafe { &*(self.producer as *const AtomicU64) }
    }

    /// Hands every committed record to `each`, then frees their space.
    fn drain(&self, mut each: impl FnMut(&[u8])) -> usize {
        let mask = self.size as u64 - 1;
        let mut cons = self.consumer_pos().load(Ordering::Acquire);
        let mut n = 0;
        loop {
            let prod = self.producer_pos().load(Ordering::Acquire);
            if cons >= prod {
                break;
            }
            let at = self.page + (cons & mask) as usize;
            // SAFETY: `at` is inside the data area (mask < size), 8-aligned (records are),
            // and the header's length word is written by the kernel with release order.
            let hdr = unsafe { &*(self.producer.cast::<u8>().add(at) as *const AtomicU32) };
            let len = hdr.load(Ordering::Acquire);
            if len & RINGBUF_BUSY != 0 {
                break; // reserved, not yet submitted: the rest waits for it
            }
            let body = (len & !(RINGBUF_BUSY | RINGBUF_DISCARD)) as usize;
            if len & RINGBUF_DISCARD == 0 && body <= self.size {
                // SAFETY: the record's body follows its header, and the data area is
                // mapped twice in a row, so body bytes from `at + 8` are all mapped.
                let data = unsafe {
                    std::slice::from_raw_parts(
                        self.producer.cast::<u8>().add(at + RINGBUF_HDR),
                        body,
                    )
                };
                each(data);
                n += 1;
            }
            cons += ((body + RINGBUF_HDR + 7) & !7) as u64;
            self.consumer_pos().store(cons, Ordering::Release);
        }
        n
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the two mappings made in map, once each.
        unsafe {
            libc::munmap(self.producer, self.page + 2 * self.size);
            libc::munmap(self.consumer, self.page);
        }
    }
}

/// The attached programs, their maps and the ring's mapping. Dropping it detaches and
/// frees everything: links first, then programs, then maps.
pub struct EventSource {
    ring: Ring,
    links: Vec<OwnedFd>,
    progs: Vec<OwnedFd>,
    ring_fd: OwnedFd,
    lost_fd: OwnedFd,
    lost_seen: u64,
}

impl Drop for EventSource {
    fn drop(&mut self) {
        self.links.clear();
        self.progs.clear();
    }
}

impl EventSource {
    /// Loads and attaches the programs. `ring_bytes`: a power of two, at least a page.
    /// `netns`: report only sockets of this network namespace (its inode), counting only
    /// their losses; None for every namespace.
    pub fn open(ring_bytes: usize, netns: Option<u64>) -> Result<EventSource, BpfError> {
        if !ring_bytes.is_power_of_two() || !(4096..=1 << 30).contains(&ring_bytes) {
            return Err(BpfError::Other(format!(
                "ring buffer of {ring_bytes} bytes: not a power of two from 4096"
            )));
        }
        // The maps first: without the privilege this fails at once, before the BTF walk.
        let ring_fd =
            loader::map_create(BPF_MAP_TYPE_RINGBUF, 0, 0, ring_bytes as u32, b"ps_ev_ring")?;
        // [0]: records lost; [1]: when the reader was last woken (ktime).
        let lost_fd = loader::map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 2, b"ps_ev_lost")?;
        let blob = btf::Blob::open(super::VMLINUX_BTF)
            .map_err(|e| BpfError::classify(&format!("read {}", super::VMLINUX_BTF), &e, ""))?;
        let btf = btf::Btf::parse(blob.bytes(), prog::STRUCTS, prog::FUNCS)
            .map_err(|e| BpfError::Unsupported(format!("read {}: {e}", super::VMLINUX_BTF)))?;
        let layout = Layout::from_btf(&btf)
            .map_err(|e| BpfError::Unsupported(format!("find the programs' fields: {e}")))?;
        let maps = Maps {
            ring: ring_fd.as_raw_fd(),
            lost: lost_fd.as_raw_fd(),
            netns: netns.map_or(0, |n| n as u32),
        };
        let ring = Ring::map(&ring_fd, ring_bytes)?;
        let mut source = EventSource {
            ring,
            links: Vec::new(),
            progs: Vec::new(),
            ring_fd,
            lost_fd,
            lost_seen: 0,
        };
        let mut cgroup = None;
        for t in &layout.targets {
            let insns = prog::build(&layout, t.hook, maps)
                .map_err(|e| BpfError::Other(format!("assemble {}: {e}", t.name)))?;
            let fd = loader::load_prog(
                &insns,
                t.prog_type,
                t.attach_type,
                t.btf_id,
                t.name.as_bytes(),
            )?;
            let link = if t.prog_type == prog::BPF_PROG_TYPE_CGROUP_SOCK {
                if cgroup.is_none() {
                    cgroup = Some(cgroup2_root()?);
                }
                let dir = cgroup.as_ref().expect("opened just above");
                loader::attach_cgroup(&fd, dir, t.attach_type, t.what)?
            } else {
                loader::attach_tracing(&fd, t.what)?
            };
            source.links.push(link);
            source.progs.push(fd);
        }
        Ok(source)
    }

    /// Readable when events are waiting (for `sys::event_loop`).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring_fd.as_fd()
    }

    /// How long a reader that just read events must keep reading on its own before it
    /// may sleep until woken: the programs wake it at most once per this (a record in
    /// between is not announced).
    pub const READ_ON: std::time::Duration =
        std::time::Duration::from_nanos(2 * prog::WAKE_EVERY_NS as u64);
    /// How often to look meanwhile: the longest an unannounced record waits.
    pub const READ_EVERY: std::time::Duration = std::time::Duration::from_micros(250);

    /// Every event committed so far, in the order the kernel committed them.
    pub fn drain(&mut self, mut each: impl FnMut(KernelEvent)) -> usize {
        self.ring.drain(|b| {
            if let Some(e) = KernelEvent::parse(b) {
                each(e)
            }
        })
    }

    /// Events the ring had no room for since the last call.
    pub fn lost(&mut self) -> Result<u64, BpfError> {
        let total = loader::map_lookup_u64(&self.lost_fd, 0)?;
        let new = total.saturating_sub(self.lost_seen);
        self.lost_seen = total;
        Ok(new)
    }
}

/// The root of the cgroup2 hierarchy as this process sees it (its mount point from
/// /proc/self/mountinfo: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host),
/// open for attaching; hooks there apply to every process below.
fn cgroup2_root() -> Result<OwnedFd, BpfError> {
    let path = crate::collect::linux::placement::cgroup2_mount(std::path::Path::new("/proc"))
        .ok_or_else(|| BpfError::Unsupported("no cgroup2 hierarchy is mounted".into()))?;
    let dir = std::fs::File::open(&path).map_err(|e| {
        BpfError::classify(&format!("open the cgroup2 root {}", path.display()), &e, "")
    })?;
    Ok(OwnedFd::from(dir))
}

/// Every BPF program loaded on this host, as (id, name).
pub fn loaded_programs() -> std::io::Result<Vec<(u32, String)>> {
    loader::loaded_programs()
}

/// Names our programs carry (prefix).
pub const PROGRAM_PREFIX: &str = "ps_ev_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_decodes_field_by_field() {
        let mut b = vec![0u8; prog::EVENT_LEN];
        let put = |b: &mut Vec<u8>, off: i16, v: &[u8]| {
            b[off as usize..off as usize + v.len()].copy_from_slice(v)
        };
        put(&mut b, prog::OFF_KIND, &[2, 7, 7, 1]);
        put(&mut b, prog::OFF_FAMILY, &10u16.to_ne_bytes());
        put(&mut b, prog::OFF_PROTO, &17u16.to_ne_bytes());
        put(&mut b, prog::OFF_LPORT, &5353u16.to_ne_bytes());
        put(&mut b, prog::OFF_RPORT, &443u16.to_be_bytes());
        put(&mut b, prog::OFF_NETNS, &4_026_531_840u32.to_ne_bytes());
        put(&mut b, prog::OFF_TGID, &42u32.to_ne_bytes());
        put(&mut b, prog::OFF_TID, &43u32.to_ne_bytes());
        put(&mut b, prog::OFF_UID, &1000u32.to_ne_bytes());
        put(&mut b, prog::OFF_CGROUP, &77u64.to_ne_bytes());
        put(&mut b, prog::OFF_INODE, &123_456u64.to_ne_bytes());
        let l6: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        put(&mut b, prog::OFF_LADDR6, &l6.octets());
        put(&mut b, prog::OFF_COMM, b"nc\0junk");
        let e = KernelEvent::parse(&b).unwrap();
        assert_eq!(e.kind, EventKind::Bind);
        assert_eq!((e.old_state, e.new_state, e.protocol), (7, 7, 17));
        assert!(e.ipv6 && e.v6only);
        assert_eq!(e.local, "[fe80::1]:5353".parse().unwrap());
        assert_eq!(e.remote, "[::]:443".parse().unwrap());
        assert_eq!((e.netns, e.inode), (4_026_531_840, 123_456));
        assert_eq!((e.pid, e.tid, e.uid, e.cgroup_id), (42, 43, 1000, 77));
        assert_eq!(e.comm, "nc");
        b[0] = 9;
        assert_eq!(KernelEvent::parse(&b), None);
        assert_eq!(KernelEvent::parse(&b[..50]), None);
    }

    /// As root on a kernel with BTF: a listener and a UDP socket opened and closed by this
    /// process are each reported, with this process as the actor and one inode throughout.
    #[test]
    fn live_listener_and_udp_socket_are_reported_with_their_actor() {
        if crate::collect::effective_uid() != 0 {
            return crate::test_skip::skip("needs root for bpf(2)");
        }
        let netns = crate::collect::linux::netns::current_inode();
        let mut src = EventSource::open(DEFAULT_RING_BYTES, netns).unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let u = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let uport = u.local_addr().unwrap().port();
        drop(u);
        let mut all = Vec::new();
        src.drain(|e| all.push(e));
        // Ours by port at bind, then by inode: a listener bound to port 0 is reported with
        // port 0 when it closes (tcp_set_state gives the port back before the tracepoint).
        let ours: Vec<u64> = all
            .iter()
            .filter(|e| e.kind == EventKind::Bind && [port, uport].contains(&e.local.port()))
            .map(|e| e.inode)
            .collect();
        let seen: Vec<KernelEvent> = all
            .into_iter()
            .filter(|e| ours.contains(&e.inode))
            .collect();
        let summary: Vec<_> = seen
            .iter()
            .map(|e| (e.kind, e.old_state, e.new_state, e.protocol, e.local.port()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (EventKind::Bind, 7, 7, 6, port),
                (EventKind::State, 7, 10, 6, port),
                (EventKind::State, 10, 7, 6, 0),
                (EventKind::Bind, 7, 7, 17, uport),
                (EventKind::Release, 7, 7, 17, uport),
            ]
        );
        for e in &seen {
            assert_eq!(e.pid, std::process::id(), "{e:?}");
            assert_eq!(Some(e.netns), netns);
            assert_ne!(e.inode, 0);
        }
        assert_eq!(seen[0].inode, seen[2].inode);
        assert_eq!(seen[3].inode, seen[4].inode);
        assert!(seen[3].ipv6 && seen[3].local.ip().is_loopback());
        assert_eq!(src.lost().unwrap(), 0);
    }
}
