#!/usr/bin/env python3
"""Writes the committed seed corpus in tests/fuzz/corpus/<target>/ (cargo-fuzz's default
layout): SPEC strings, durations and services(5) text for `spec`; /proc/net tables and raw
netlink sock_diag replies captured live for `proc_net` and `sock_diag`, plus hand-made edge
cases (the i32::MIN NLMSG_ERROR the fuzzer once found among them).

Run as root from the repository root:  unshare -n python3 tests/fuzz/make_corpus.py
The live captures come from that private network namespace (loopback only, sockets this
script opens), so nothing about the host ends up in the repository. tests/fuzz_corpus.rs
replays every file under `cargo test`; `cargo fuzz run` adds its own finds beside these.
"""

import os
import shutil
import socket
import struct
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

NLMSG_ERROR, NLMSG_DONE, SOCK_DIAG_BY_FAMILY = 2, 3, 20
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
NETLINK_SOCK_DIAG = 4


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def spec_corpus():
    specs = {
        "port": "8080", "colon-port": ":80", "port-tcp": "80/tcp", "port-udp": "53/udp",
        "v4-port": "127.0.0.1:80", "v6-port": "[::1]:8080", "any-port": "*:443",
        "empty-addr": ":22", "range": "8000-8100", "list": "80,443,8080",
        "mixed-list": "22,http,8000-8010/tcp", "service": "http", "service-udp": "domain/udp",
        "service-wrong-proto": "ssh/udp", "zero": "0", "max": "65535", "too-big": "65536",
        "huge": "99999999999999999999", "negative": "-1", "plus": "+80", "empty": "",
        "spaces": "  80  ", "unclosed-bracket": "[::1", "bracket-no-colon": "[::1]80",
        "unbracketed-v6": "::1:80", "bad-v6": "[zz::1]:80", "bad-v4": "300.1.1.1:80",
        "word": "abc", "sctp": "80/sctp", "double-range": "1-2-3", "reversed": "9-1",
        "full-range": "0.0.0.0:0-65535", "mapped": "[::ffff:1.2.3.4]:80",
        "trailing-comma": "80,", "double-comma": "80,,81", "slash-only": "/tcp",
        "many-slashes": "80/tcp/udp", "unicode": "８０", "bidi": "\u202e08", "nul": "80\0",
        "dur-s": "30s", "dur-ms": "100ms", "dur-m": "1.5m", "dur-h": "2h", "dur-frac": ".5",
        "dur-neg": "-5s", "dur-exp": "1e400", "dur-dots": "1..2s",
        "services": "http\t\t80/tcp\t\twww www-http\t# WorldWideWeb HTTP\n"
        "domain\t\t53/udp\n# comment\nbad line\nx 99999/tcp\ny 1/sctp\n",
    }
    for name, text in specs.items():
        write("spec", name, text)
    write("spec", "invalid-utf8", b"80\xff\xfe")


def nl_dump(proto, family, seq):
    """One sock_diag dump as the kernel sends it: the list of recv() buffers."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    req = struct.pack("=BBBBI", family, proto, 0, 0, 0xFFFFFFFF) + bytes(48)
    hdr = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY,
                      NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    s.sendto(hdr + req, (0, 0))
    bufs = []
    while True:
        b = s.recv(65536)
        bufs.append(b)
        off, end = 0, False
        while off + 16 <= len(b):
            ln, ty = struct.unpack_from("=IH", b, off)
            end |= ty in (NLMSG_DONE, NLMSG_ERROR)
            if ln < 16:
                break
            off += (ln + 3) & ~3
        if end:
            break
    s.close()
    return bufs


def open_sockets():
    """Every socket kind portscope reports, on loopback in this namespace."""
    held = []

    def tcp_listen(fam, addr, v6only=None):
        s = socket.socket(fam, socket.SOCK_STREAM)
        if v6only is not None:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
        s.bind((addr, 0))
        s.listen(8)
        held.append(s)
        return s

    l4 = tcp_listen(socket.AF_INET, "127.0.0.1")
    l6 = tcp_listen(socket.AF_INET6, "::1", 1)
    dual = tcp_listen(socket.AF_INET6, "::", 0)
    tcp_listen(socket.AF_INET6, "::", 1)
    for lst, fam, addr in ((l4, socket.AF_INET, "127.0.0.1"), (l6, socket.AF_INET6, "::1"),
                           (dual, socket.AF_INET, "127.0.0.1")):
        c = socket.create_connection((addr, lst.getsockname()[1]))
        held += [c, lst.accept()[0]]
    # An actively closed connection leaves a time_wait socket.
    c = socket.create_connection(("127.0.0.1", l4.getsockname()[1]))
    a = l4.accept()[0]
    c.close()
    a.recv(1)
    a.close()
    # Bound-only TCP (Linux 6.6+ reports it), bound and connected UDP.
    b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    b.bind(("127.0.0.1", 0))
    held.append(b)
    for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((addr, 0))
        v = socket.socket(fam, socket.SOCK_DGRAM)
        v.connect(u.getsockname()[:2])
        held += [u, v]
    return held


def live_corpus():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    held = open_sockets()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/net/{table}", "rb") as f:
            text = f.read()
        write("proc_net", f"live-{table}", text)
        lines = text.split(b"\n")
        write("proc_net", f"live-{table}-header-only", lines[0] + b"\n")
        write("proc_net", f"live-{table}-first-row", b"\n".join(lines[:2]) + b"\n")
        write("proc_net", f"live-{table}-cut", text[: len(text) * 2 // 3])
    seq = 1
    for pname, proto in (("tcp", socket.IPPROTO_TCP), ("udp", socket.IPPROTO_UDP)):
        for fname, fam in (("4", socket.AF_INET), ("6", socket.AF_INET6)):
            bufs = nl_dump(proto, fam, seq)
            seq += 1
            whole = b"".join(bufs)
            write("sock_diag", f"live-{pname}{fname}-dump", whole)
            first = struct.unpack_from("=I", whole, 0)[0]
            write("sock_diag", f"live-{pname}{fname}-first-message", whole[:first])
            write("sock_diag", f"live-{pname}{fname}-cut", whole[: first + first // 2])
    for s in held:
        s.close()


def nlmsg(ty, seq, body):
    return struct.pack("=IHHII", 16 + len(body), ty, 0, seq, 0) + body


def proc_net_edges():
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    row4 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0 100 0 0 10 0\n"
    row6 = ("   0: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A "
            "00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0\n")
    edges = {
        "empty": "", "header-only": head, "v4-listen": head + row4, "v6-mapped": head + row6,
        "no-header": row4, "short-row": head + "   0: 0100007F:1F90 00000000:0000 0A\n",
        "bad-hex": head + row4.replace("0100007F", "0100007G"),
        "odd-addr-len": head + row4.replace("0100007F", "100007F"),
        "big-port": head + row4.replace(":1F90", ":1F9000"),
        "bad-state": head + row4.replace(" 0A ", " FF "),
        "huge-inode": head + row4.replace("12345", "99999999999999999999999"),
        "neg-uid": head + row4.replace("     0        0 12345", "    -1        0 12345"),
        "no-colon-queue": head + row4.replace("00000000:00000000", "0000000000000000"),
        "crlf": (head + row4).replace("\n", "\r\n"), "tabs": (head + row4).replace(" ", "\t"),
    }
    for name, text in edges.items():
        write("proc_net", name, text)
    write("proc_net", "invalid-utf8", (head + row4).encode() + b"\xff")


def sock_diag_edges():
    seq = 7
    edges = {
        # The fuzzer's find: an error field of i32::MIN must not overflow on negation.
        "error-i32-min": nlmsg(NLMSG_ERROR, seq, struct.pack("=i", -2**31)),
        "error-enoent": nlmsg(NLMSG_ERROR, seq, struct.pack("=i", -2)),
        "error-ack": nlmsg(NLMSG_ERROR, seq, struct.pack("=i", 0)),
        "error-short-body": nlmsg(NLMSG_ERROR, seq, b"\x01"),
        "done": nlmsg(NLMSG_DONE, seq, struct.pack("=i", 0)),
        "empty": b"", "header-short": nlmsg(NLMSG_DONE, seq, b"")[:12],
        "len-too-small": struct.pack("=IHHII", 4, SOCK_DIAG_BY_FAMILY, 0, seq, 0),
        "len-too-big": struct.pack("=IHHII", 4096, SOCK_DIAG_BY_FAMILY, 0, seq, 0),
        "empty-diag": nlmsg(SOCK_DIAG_BY_FAMILY, seq, b""),
        "short-diag": nlmsg(SOCK_DIAG_BY_FAMILY, seq, bytes(40)),
        "unknown-type": nlmsg(99, seq, bytes(8)) + nlmsg(NLMSG_DONE, seq, bytes(4)),
        "stale-seq": nlmsg(NLMSG_DONE, seq, bytes(4)) + nlmsg(NLMSG_ERROR, seq + 1, bytes(4)),
        "unaligned": nlmsg(99, seq, bytes(5)) + nlmsg(NLMSG_DONE, seq, bytes(4)),
    }
    # An inet_diag_msg of an unknown family, then one with a truncated attribute.
    diag = bytearray(72)
    diag[0], diag[1] = 99, 10
    edges["unknown-family"] = nlmsg(SOCK_DIAG_BY_FAMILY, seq, bytes(diag))
    diag[0] = socket.AF_INET6
    edges["bad-attr"] = nlmsg(SOCK_DIAG_BY_FAMILY, seq, bytes(diag) + struct.pack("=HH", 40, 11))
    edges["zero-attr"] = nlmsg(SOCK_DIAG_BY_FAMILY, seq, bytes(diag) + struct.pack("=HH", 0, 11))
    for name, data in edges.items():
        write("sock_diag", name, data)


def main():
    if os.geteuid() != 0:
        sys.exit("run as root inside a private network namespace: unshare -n python3 " + sys.argv[0])
    for t in ("spec", "proc_net", "sock_diag"):
        shutil.rmtree(os.path.join(ROOT, t), ignore_errors=True)
    spec_corpus()
    live_corpus()
    proc_net_edges()
    sock_diag_edges()
    for t in ("spec", "proc_net", "sock_diag"):
        print(t, len(os.listdir(os.path.join(ROOT, t))))


if __name__ == "__main__":
    main()
