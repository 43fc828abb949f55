//! The man pages' text that clap does not know, per page: EXIT STATUS, EXAMPLES, FILES,
//! ENVIRONMENT and SEE ALSO. Included by tests/it/generated.rs, which renders it as roff.

pub struct Extra {
    /// (status, meaning) rows of EXIT STATUS; meanings use the `code` markup of `prose`.
    pub exit_status: &'static [(&'static str, &'static str)],
    /// (description, command line) rows of EXAMPLES.
    pub examples: &'static [(&'static str, &'static str)],
    /// Whether the page reads the socket tables (FILES and ENVIRONMENT apply).
    pub reads_sockets: bool,
}

pub const EXIT_OK_OR_ERROR: &[(&str, &str)] = &[
    ("0", "Success."),
    (
        "2",
        "Bad input (a usage error or an invalid SPEC), or an error.",
    ),
];

/// Example command lines may span lines; they are shown verbatim (no filling), so each
/// line stays under 80 columns once indented.
pub const JQ_EXAMPLE: &str = r#"portscope list --json |
    jq -r '.sockets[] | "\(.local.port) \(.processes[0].name // "-")"'"#;

pub const ROOT: Extra = Extra {
    exit_status: &[
        ("0", "Success; for `who`, something matched."),
        (
            "1",
            "`who`: nothing uses the port(s). `verify`: a check failed. `why`: a port is not \
             bindable.",
        ),
        (
            "2",
            "Bad input (a usage error or an invalid SPEC), or an error, such as socket tables \
             that cannot be read by any means.",
        ),
        (
            "3",
            "`who` matched, but the owner of a matching socket is hidden (for example a \
             process of another user, when not run as root): the answer is partial. `why`: \
             likewise, or `--as` without root. Any command: a network namespace asked about \
             could not be read (never an empty or free answer).",
        ),
    ],
    examples: &[
        (
            "What is listening (TCP listeners and bound UDP sockets), with their owners:",
            "portscope",
        ),
        ("Who has port 8080:", "portscope who 8080"),
        (
            "What is connected to a PostgreSQL server elsewhere, by remote port:",
            "portscope who --remote 5432",
        ),
        (
            "Every socket on the local PostgreSQL port, connections included:",
            "portscope list -a -p postgresql",
        ),
        (
            "The JSON document, through jq: local port and first owner of each socket:",
            JQ_EXAMPLE,
        ),
        (
            "Kill whoever holds port 8080:",
            "kill $(portscope who -q 8080)",
        ),
    ],
    reads_sockets: true,
};

pub const LIST: Extra = Extra {
    exit_status: EXIT_OK_OR_ERROR,
    examples: &[
        (
            "What is listening (TCP listeners and bound UDP sockets), with their owners:",
            "portscope list",
        ),
        (
            "Every socket on the local PostgreSQL port, connections included:",
            "portscope list -a -p postgresql",
        ),
        (
            "Established TCP connections, sorted by process name:",
            "portscope list -t --state established --sort process",
        ),
        (
            "The JSON document, through jq: local port and first owner of each socket:",
            JQ_EXAMPLE,
        ),
    ],
    reads_sockets: true,
};

pub const WHO: Extra = Extra {
    exit_status: &[
        ("0", "Something matched, and every owner is known."),
        ("1", "Nothing uses the port(s)."),
        (
            "2",
            "Bad input (a usage error or an invalid SPEC), or an error.",
        ),
        (
            "3",
            "Something matched, but the owner of a matching socket is hidden (for example a \
             process of another user, when not run as root), or a namespace that could hold \
             the port could not be read (\"not known to be free\"): the answer is partial. \
             `why`: likewise, or `--as` without root.",
        ),
    ],
    examples: &[
        ("Who has port 8080:", "portscope who 8080"),
        (
            "Kill whoever holds port 8080:",
            "kill $(portscope who -q 8080)",
        ),
        (
            "What is connected to a PostgreSQL server elsewhere, by remote port:",
            "portscope who --remote 5432",
        ),
        (
            "Use the exit status in a script (3 means in use, by a hidden owner):",
            "portscope who 8080 >/dev/null
case $? in
    0|3) echo 'port 8080 is in use' ;;
    1) echo 'port 8080 is free' ;;
esac",
        ),
    ],
    reads_sockets: true,
};

pub const VERIFY: Extra = Extra {
    exit_status: &[
        ("0", "Every check passed."),
        ("1", "A check failed."),
        ("2", "Bad input (a usage error), or an error."),
    ],
    examples: &[
        (
            "Prove portscope's answers right on this host:",
            "portscope verify",
        ),
        (
            "The same checks against the /proc/net fallback:",
            "portscope verify --table-source procnet",
        ),
        (
            "The checks as JSON, for a script or a CI job:",
            "portscope verify --json",
        ),
    ],
    reads_sockets: true,
};

pub const LISTEN: Extra = Extra {
    exit_status: EXIT_OK_OR_ERROR,
    examples: &[
        (
            "Hold 127.0.0.1:8080/tcp and 127.0.0.1:9000/udp until Ctrl-C:",
            "portscope listen 8080 9000/udp",
        ),
        (
            "Any free port on ::1, for 30 seconds:",
            "portscope listen '[::1]:0' --for 30s",
        ),
    ],
    reads_sockets: false,
};

pub const WHY: Extra = Extra {
    exit_status: &[
        ("0", "Every SPEC is bindable."),
        ("1", "At least one SPEC is not bindable."),
        (
            "2",
            "Bad input (a usage error, an invalid SPEC or user), or an error.",
        ),
        (
            "3",
            "The answer is partial: the owner of a socket in the way is hidden (for example a \
             process of another user, when not run as root), or `--as` was given without root. \
             Wins over 1.",
        ),
    ],
    examples: &[
        (
            "Can www-data bind port 80 on every IPv4 address? If not, why:",
            "portscope why --as www-data 80",
        ),
        (
            "Would a server that sets SO_REUSEADDR get 127.0.0.1:8080 right now:",
            "portscope why --reuseaddr 127.0.0.1:8080",
        ),
        (
            "An IPv6-only and an IPv4 wildcard on one port, as JSON:",
            "portscope why --v6only '[::]:8080' --json",
        ),
    ],
    reads_sockets: true,
};

pub const EXPORT: Extra = Extra {
    exit_status: EXIT_OK_OR_ERROR,
    examples: &[
        (
            "Metrics for node_exporter's textfile collector, replaced atomically:",
            "portscope export prometheus --textfile-dir /var/lib/prometheus/node-exporter",
        ),
        (
            "TCP listeners only, to stdout:",
            "portscope export prometheus -t -o -",
        ),
        (
            "Facts in listen_ports_facts' structure, as an Ansible local fact:",
            "portscope export ansible-facts",
        ),
    ],
    reads_sockets: true,
};

pub const WATCH: Extra = Extra {
    exit_status: &[
        (
            "0",
            "Stopped by Ctrl-C (SIGINT), SIGTERM, `--count` or `--for`; nothing more is printed \
             after the signal.",
        ),
        (
            "2",
            "Bad input (a usage error, an invalid SPEC, or an interval under 50ms), or an error.",
        ),
    ],
    examples: &[
        (
            "What starts and stops listening, as it happens:",
            "portscope watch",
        ),
        (
            "Wait until something changes on port 8080, then exit:",
            "portscope watch -p 8080 --count 1",
        ),
        (
            "Every change as JSON Lines, with a full snapshot every hour, for a log pipeline:",
            "portscope watch --jsonl --snapshot-every 1h >> /var/log/portscope.jsonl",
        ),
        (
            "Connections too, ten times a second, for one minute:",
            "portscope watch --all --interval 100ms --for 1m",
        ),
    ],
    reads_sockets: true,
};

pub const DIFF: Extra = Extra {
    exit_status: &[
        (
            "0",
            "The two documents list the same sockets with the same owners.",
        ),
        ("1", "Something differs (each difference is printed)."),
        (
            "2",
            "Bad input: a usage error, or a file that cannot be read or is not a portscope \
             `list --json` document (named, with the reason).",
        ),
    ],
    examples: &[
        (
            "What changed on this host since yesterday's snapshot:",
            "portscope list --json > today.json; portscope diff yesterday.json today.json",
        ),
        (
            "Do two web servers run the same services? As JSON Lines:",
            "portscope diff web1.json web2.json --jsonl",
        ),
        (
            "The same socket, inode and PIDs included:",
            "portscope diff --strict before.json after.json",
        ),
    ],
    reads_sockets: false,
};

pub const KILL: Extra = Extra {
    exit_status: &[
        (
            "0",
            "The port is free: no listening or bound socket on SPEC remains.",
        ),
        ("1", "Nothing held it."),
        (
            "2",
            "Bad input, an error, a refused target (PID 1, a kernel thread, portscope or its \
             ancestors) or no confirmation (without a terminal, `-y` is needed to signal more \
             than one process or another user's).",
        ),
        (
            "3",
            "A holder is hidden, or not permitted to be signalled: nothing was signalled.",
        ),
        (
            "4",
            "Still held after the grace period (for example restarted by a supervisor; the new \
             PID and its unit or container are named).",
        ),
        (
            "5",
            "A target changed (exited, or let go of the socket) before it could be signalled.",
        ),
    ],
    examples: &[
        (
            "End whoever listens on 8080 (SIGTERM, SIGKILL after 5 seconds):",
            "portscope kill 8080",
        ),
        (
            "The plan only, as JSON:",
            "portscope kill 8080 --dry-run --json",
        ),
        (
            "Two ports, no question, ten seconds of grace, never SIGKILL:",
            "portscope kill -y --grace 10s --no-escalate 5432 6379",
        ),
    ],
    reads_sockets: true,
};

pub const CLOSE: Extra = Extra {
    exit_status: &[
        ("0", "Every selected socket was destroyed."),
        ("1", "Nothing matched."),
        (
            "2",
            "Bad input, an error (a kernel without CONFIG_INET_DIAG_DESTROY) or no confirmation.",
        ),
        (
            "3",
            "Not permitted: destroying a socket needs CAP_NET_ADMIN.",
        ),
        ("4", "A socket is still there afterwards."),
        (
            "5",
            "A socket closed or was replaced before it could be destroyed.",
        ),
    ],
    examples: &[
        (
            "Destroy the listener on 8080; its process lives on:",
            "portscope close 8080",
        ),
        (
            "What would be closed on 5432, connections included:",
            "portscope close --all-states 5432 --dry-run",
        ),
    ],
    reads_sockets: true,
};

pub const WAIT: Extra = Extra {
    exit_status: &[
        (
            "0",
            "The condition was met (with COMMAND: COMMAND's exit status).",
        ),
        ("1", "Timed out."),
        ("2", "Bad input or an error."),
        (
            "3",
            "Up, but the owner is hidden, so `--owner`, `--pid`, `--user`, `--container` or \
             `--unit` cannot be checked.",
        ),
    ],
    examples: &[
        (
            "Run the migrations once PostgreSQL listens on localhost (either family):",
            "portscope wait localhost:5432 --timeout 30s -- ./migrate",
        ),
        (
            "Until nothing listens on 8080 any more:",
            "portscope wait 8080 --until free",
        ),
        (
            "Until nginx answers 2xx or 3xx on /healthz:",
            "portscope wait 8080 --http /healthz --owner nginx --timeout 1m",
        ),
    ],
    reads_sockets: true,
};

pub fn extra_for(page: &str) -> &'static Extra {
    match page {
        "portscope" => &ROOT,
        "portscope-list" => &LIST,
        "portscope-who" => &WHO,
        "portscope-verify" => &VERIFY,
        "portscope-listen" => &LISTEN,
        "portscope-why" => &WHY,
        "portscope-export" => &EXPORT,
        "portscope-kill" => &KILL,
        "portscope-close" => &CLOSE,
        "portscope-wait" => &WAIT,
        "portscope-watch" => &WATCH,
        "portscope-diff" => &DIFF,
        other => panic!(
            "no EXIT STATUS/EXAMPLES for the man page {other}: add them in tests/it/generated.rs"
        ),
    }
}

pub const FILES: &[(&str, &str)] = &[
    (
        "/proc/net/*",
        "The socket tables (tcp, tcp6, udp, udp6), read when netlink sock_diag is unavailable \
         or with `--table-source procnet`.",
    ),
    (
        "/proc/*/fd",
        "Each process's open descriptors, scanned to find every process that holds a socket. \
         A process whose descriptors cannot be read leaves its sockets with a hidden owner.",
    ),
    (
        "/etc/services",
        "Service names for ports (a built-in table of common assignments is used when it \
         cannot be read; `--numeric` turns names off).",
    ),
    (
        "/proc/sys/net/ipv4/ip_local_port_range",
        "This host's ephemeral port range, for the `ephemeral` port class.",
    ),
];

pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "NO_COLOR",
        "When set to a non-empty value, tables are not coloured unless `--color always` is given.",
    ),
    (
        "TERM",
        "`dumb` turns colour off, as NO_COLOR does. No other variable changes what portscope \
         reports.",
    ),
];

pub const SEE_ALSO_EXTERNAL: &[(&str, &str)] =
    &[("ss", "8"), ("lsof", "8"), ("netstat", "8"), ("fuser", "1")];
