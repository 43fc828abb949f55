//! Command-line definitions (clap derive) and nothing else.
//!
//! This file imports nothing from the crate, so the man page and completion generator
//! (tests/generated.rs) can include it on its own. Parsed arguments are turned into a
//! validated query in `query.rs`; nothing here is runtime configuration.
//!
//! It is the one file allowed over ~600 lines: the generator includes it whole, and
//! splitting it would make the generator include a tree of files that must not import the
//! crate either.

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

const LIST_EXAMPLES: &str = "\
Examples:
  portscope                      what is listening (TCP listeners, bound UDP), with owners
  portscope list -a -p 5432      every socket on port 5432, connections included
  portscope list --json | jq -r '.sockets[] | \"\\(.local.port) \\(.processes[0].name)\"'";

const WHO_EXAMPLES: &str = "\
Examples:
  portscope who 8080             who holds port 8080 (exit 0 found, 1 nobody, 3 hidden)
  portscope kill 8080            end whoever holds 8080, safely (not kill $(... -q))
  portscope who --remote 5432    who is connected to a PostgreSQL server";

const VERIFY_EXAMPLES: &str = "\
Examples:
  portscope verify               prove portscope's answers right on this host
  portscope verify --json        the same checks, for a script or a CI job";

const LISTEN_EXAMPLES: &str = "\
Examples:
  portscope listen 8080 9000/udp     hold 127.0.0.1:8080/tcp and 127.0.0.1:9000/udp
  portscope listen '[::1]:0' --for 30s   any free port on ::1, for 30 seconds";

const WHY_EXAMPLES: &str = "\
Examples:
  portscope why 80 --as www-data     can www-data bind 0.0.0.0:80/tcp? if not, why
  portscope why '[::]:8080' 127.0.0.1:8080 --reuseaddr
  portscope why 5353/udp --reuseport --json";
const EXPORT_EXAMPLES: &str = "\
Examples:
  portscope export prometheus --textfile-dir /var/lib/prometheus/node-exporter
  portscope export prometheus -t -o -        TCP only, to stdout
  portscope export ansible-facts             listen_ports_facts' structure, for facts.d";

const WATCH_EXAMPLES: &str = "\
Examples:
  portscope watch                    what starts and stops listening, as it happens
  portscope watch -p 8080 --count 1  wait until something changes on port 8080
  portscope watch --jsonl --snapshot-every 1h >> /var/log/portscope.jsonl";

const DIFF_EXAMPLES: &str = "\
Examples:
  portscope list --json > before.json; ...; portscope list --json > after.json
  portscope diff before.json after.json      what changed (exit 1 if anything did)
  portscope diff web1.json web2.json --jsonl two hosts, as JSON lines";
const KILL_EXAMPLES: &str = "\
Examples:
  portscope kill 8080                end whoever listens on 8080 (SIGTERM, then SIGKILL after 5s)
  portscope kill 8080 --dry-run --json   the plan only: who would be signalled
  portscope kill -y --grace 10s 5432 6379";

const CLOSE_EXAMPLES: &str = "\
Examples:
  portscope close 8080               destroy the listener on 8080; its process lives on
  portscope close --all 5432 --dry-run";

const WAIT_EXAMPLES: &str = "\
Examples:
  portscope wait localhost:5432 --timeout 30s -- ./migrate   run once PostgreSQL listens
  portscope wait 8080 --until free   until nothing listens on 8080
  portscope wait 8080 --http /healthz --process nginx --timeout 1m";

const EXIT_STATUS: &str = "\
Exit status (2 is always bad input or an error):
  list, export, watch, listen  0 success; 3 a network namespace named cannot be read
  who      0 something matched, 1 nobody (free), 3 matched but an owner is hidden, or a
           namespace that could hold the port cannot be read (never \"free\")
  verify   0 every check passed, 1 a check failed
  why      0 every SPEC bindable, 1 a SPEC is not, 3 could not see everything (a hidden
           holder, --as without root, an unreadable namespace)
  diff     0 the documents agree, 1 they differ
  kill, close  0 freed, 1 nothing held the port, 2 also a refused target (PID 1, a PID
           namespace's init), 3 a holder is hidden or a container's (engine process,
           container init, published port: the stop command is named), 4 still held after
           acting, 5 a target changed before acting (nothing was done to it)
  wait     0 the condition was met (or COMMAND's status), 1 timed out, 3 an owner is hidden
           or a namespace cannot be read";

/// What is listening, who owns this port, and can I trust the answer?
#[derive(Debug, Parser)]
#[command(
    name = "portscope",
    version,
    about = "What is listening, who owns this port, and can I trust the answer?",
    long_about = "portscope reads the kernel's TCP and UDP socket tables (IPv4 and IPv6), joins \
every socket to all the processes that hold it, classifies each port and prints a table for \
people or JSON for scripts. An owner that cannot be seen is shown as '-' with the reason, never \
left silently blank.\n\nWith no subcommand, portscope runs portscope list.",
    after_help = EXIT_STATUS,
    args_conflicts_with_subcommands = true,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// With no subcommand: the options of `portscope list`.
    #[command(flatten)]
    pub list: ListArgs,

    /// When to colour the table (used by list).
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    #[command(flatten)]
    pub sources: SourceArgs,
}

// Which backends read the host: the JSON `sources` object says which ran.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table
    /// (Linux), netstat2 elsewhere.
    #[arg(
        long,
        value_enum,
        global = true,
        default_value_t = TableSourceArg::Auto,
        value_name = "SOURCE",
        help_heading = "Sources"
    )]
    pub table_source: TableSourceArg,
    /// Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the
    /// host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2's PIDs
    /// elsewhere. none: no owner join at all (like ss without -p).
    #[arg(
        long,
        value_enum,
        global = true,
        default_value_t = OwnerSourceArg::Auto,
        value_name = "SOURCE",
        help_heading = "Sources"
    )]
    pub owner_source: OwnerSourceArg,
    /// Network namespaces to read: current (default; all with --container or --systemd-unit),
    /// all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a
    /// PID (that process's namespace) or a PATH to an nsfs file (/run/netns/NAME,
    /// /proc/PID/ns/net).
    #[arg(
        long,
        global = true,
        value_parser = clap::builder::NonEmptyStringValueParser::new(),
        value_name = "all|current|NAME|PID|PATH",
        value_hint = ValueHint::Other,
        help_heading = "Sources"
    )]
    pub netns: Option<String>,
}

impl SourceArgs {
    /// `--netns` as given, or "" when it was not (the current namespace, or every one for
    /// --container and --systemd-unit).
    pub fn netns(&self) -> &str {
        self.netns.as_deref().unwrap_or("")
    }
}

/// --table-source values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TableSourceArg {
    #[default]
    Auto,
    /// netlink sock_diag (Linux; what ss uses)
    Netlink,
    /// /proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)
    Procnet,
    /// the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)
    Netstat2,
}

/// --owner-source values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OwnerSourceArg {
    #[default]
    Auto,
    /// a BPF iterator over every task's files (Linux; needs CAP_BPF and CAP_PERFMON)
    Bpf,
    /// a scan of /proc/*/fd (Linux)
    Procfs,
    /// no owner join
    None,
}

/// Each subcommand's arguments are built only when it runs (or for help, man pages and
/// completions): `list` need not build the other eleven, a third of start-up.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// List sockets with their owning processes (the default command)
    ///
    /// Shows listening TCP sockets and bound UDP sockets by default (what ss -tulpn shows),
    /// every state with --all. Each socket lists every process that holds it; an owner that
    /// cannot be seen shows '-' and a note on stderr says why.
    #[command(visible_alias = "ls", after_help = LIST_EXAMPLES)]
    List(ListArgs),
    /// Show which processes hold a port
    ///
    /// Prints one block per owning process with its command line, parent, and every socket
    /// it holds on the port. Exit status: 0 found, 1 nobody uses the port(s), 2 bad input,
    /// 3 a socket matched but its owner could not be seen, or a namespace that could hold
    /// the port could not be read (so "free" and "cannot tell" never look alike).
    #[command(after_help = WHO_EXAMPLES)]
    Who(WhoArgs),
    /// Open known test sockets and prove that portscope reports them exactly
    ///
    /// Opens loopback TCP listeners (IPv4, IPv6-only, dual-stack), an established pair, UDP
    /// sockets bound and connected, and a listener shared with a forked child, reads them
    /// back through the same pipeline as list and who, and checks every field. Exit 0 all
    /// passed, 1 a check failed, 2 the test sockets could not be opened.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Hold test listeners open until Ctrl-C, --for, or stdin closes
    ///
    /// Prints one line per socket with its address, port and PID as soon as it is open
    /// (JSON lines with --json). Binds 127.0.0.1 unless an address is given, never a
    /// wildcard by default. A port in use fails with its owner named, exit 2.
    #[command(after_help = LISTEN_EXAMPLES)]
    Listen(ListenArgs),
    /// Tell why a port cannot be bound, and how to fix it
    ///
    /// Tries the bind for real, as the application would (same address, port, protocol
    /// and socket options; as USER with --as), never listens and closes at once. Then
    /// names every rule that explains a failure, with the evidence (the sockets in the
    /// way and their owners, sysctls, capabilities, interface addresses) and the fix; or,
    /// when it works, what could still bite. A bare PORT means 0.0.0.0:PORT. Exit status:
    /// 0 every SPEC bindable, 1 at least one not, 2 bad input or an error, 3 the answer is
    /// partial (a holder's owner is hidden, or --as without root).
    #[command(after_help = WHY_EXAMPLES)]
    Why(WhyArgs),
    /// Export the listening ports for Prometheus or Ansible
    ///
    /// prometheus: the Prometheus text exposition format, for node_exporter's textfile
    /// collector (no PID, inode, command line or remote address labels; ports in the
    /// ephemeral range folded into one series per owner). ansible-facts: the JSON of
    /// community.general.listen_ports_facts (one item per socket and holding process), plus
    /// portscope's own fields. Files are replaced atomically: never seen half-written.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Print every change to the socket table as it happens
    ///
    /// Prints the current table once (as list does), then one line per change, each with a
    /// UTC timestamp, the socket and its owners: '+' added, '-' removed, '~' owner changed
    /// (a worker forked onto a shared socket, a listener handed to a new process, a holder
    /// that exited). A socket whose state changes (with --all) is removed in the old state
    /// and added in the new. --jsonl: one JSON object per line instead, for log pipelines.
    /// Takes list's selection (default: listening TCP and bound UDP; --all every state).
    ///
    /// --events auto (the default) takes kernel events where permitted (Linux with BTF,
    /// root or CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN, cgroup2 mounted): BPF programs on the
    /// sock:inet_sock_set_state tracepoint and the cgroup2 root's post_bind4/6 and
    /// sock_release hooks report each listen(), bind() and close as it happens, with the
    /// process that made it ('by comm[pid] user' on the line, "by" in JSON); events racing
    /// the first snapshot are reconciled with it by socket identity. A full ring buffer is
    /// reported as a '!' lost line ({"event": "lost", "lost": N}). Kernel events do not
    /// see holders gained or lost by fork, exit or descriptor passing, implicit UDP binds
    /// (sendto without bind), UDP connect(), or sockets without a file (time_wait); use
    /// --snapshot-every to re-read the table. Otherwise watch polls, with one note saying
    /// so (--events poll: always; --events bpf: never, exit 2 instead).
    ///
    /// Polling: each tick reads the socket table again (filtered by the kernel where the
    /// selection allows) and compares it with the last one. A socket that lives shorter
    /// than one interval may be missed. Owners are resolved once per socket, when it first appears
    /// (a full owner scan, only on ticks that bring new sockets). Between those, owner
    /// changes are found at a bounded cost: every tick the process list is read, and only
    /// processes that appeared since the last tick have their descriptors read (a forked
    /// worker or a new process handed a listener shows within one interval), while holders
    /// that exited are dropped at once. What that cannot see (a descriptor passed to, or
    /// closed by, a process that already existed) is caught by a full owner scan repeated
    /// at most once per 200 times its own CPU cost, so that refreshes stay under 0.5% of one
    /// core: on a small host every tick or two, with 100,000 descriptors every ~8 s (BPF
    /// owner source) to ~80 s (the /proc scan).
    /// Removals are seen on the next tick: the sock_diag destroy notifications come as the
    /// kernel frees a socket, after it left its file, so they carry no inode to match.
    /// Exit status: 0 on Ctrl-C, SIGTERM, --count or --for; 2 bad input or an error.
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
    /// Compare two saved list --json documents
    ///
    /// Prints the same '+' added, '-' removed and '~' owner changed lines as watch (without
    /// timestamps), or JSON lines with --jsonl, for two hosts or two moments. Sockets match
    /// on protocol, family, local address and port, remote end and state; owners compare by
    /// process name and user, so two hosts with the same services diff clean. --strict
    /// also matches the inode and compares PIDs. Exit status: 0 nothing differs, 1
    /// something does, 2 bad input (a file that is not a portscope document is named, with
    /// the reason).
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Free a port: signal the processes that hold it, safely, and check that it is free
    ///
    /// Targets every process holding a listening TCP or bound UDP socket on SPEC (the who
    /// grammar; with -a/--all also those with connections on it). Each is pinned with a
    /// pidfd when the plan is made, with its start time, uids and executable; right before
    /// the signal they are read again through the pidfd-confirmed process, and a target that
    /// exited, let go of the socket, exec'd or changed uid is skipped (exit 5), never
    /// signalled. The question and the report name the process (pid, name, user, uid,
    /// executable). Refused, nothing signalled: PID 1, kernel threads, portscope and its
    /// ancestors, PID 1 of any PID namespace (exit 2; a container's init: exit 3), and a
    /// container engine's processes, known by executable and arguments (conmon,
    /// docker-proxy, rootlessport, pasta, slirp4netns, containerd-shim: exit 3), with the
    /// container and its stop command (podman stop NAME, docker stop NAME, docker compose -p
    /// P stop SERVICE); a port published by DNAT alone is refused too (exit 3). Sends
    /// SIGTERM, waits up to --grace for the processes to exit and the port to be free, then
    /// SIGKILL unless --no-escalate. A port left in TIME_WAIT is said to be so (a bind
    /// without SO_REUSEADDR fails there). A holder restarted by its supervisor is named, with
    /// the systemd unit or container to stop. On a terminal it asks before signalling another
    /// user's process or more than one process; without one that needs -y. --dry-run prints
    /// the plan with a null result and exits 0, blocked or not (1 when nothing is on the
    /// port). Exit status: 0 freed, 1 nothing held it, 2 bad input or an error (a refused
    /// target, no confirmation), 3 a holder is hidden, not permitted to be signalled, or a
    /// container's, 4 still held after the grace period (e.g. restarted), 5 a target changed
    /// before it could be signalled.
    #[command(after_help = KILL_EXAMPLES)]
    Kill(KillArgs),
    /// Destroy the sockets on a port in the kernel, leaving their processes running
    ///
    /// What ss -K does (SOCK_DESTROY over netlink sock_diag), for a stuck listener or a hung
    /// connection. Every socket that could not be closed is named with the reason (EPERM:
    /// needs CAP_NET_ADMIN; EOPNOTSUPP: a kernel without CONFIG_INET_DIAG_DESTROY). The
    /// process keeps a dead descriptor; a listener bound by port number then keeps the port
    /// bound until its process closes it, and the result says so ("closed, but the port
    /// stays bound", never "freed"). Closing a listener resets the connections waiting in its
    /// accept queue: the plan lists them and they count for the confirmation. A socket a
    /// container engine holds for a container (conmon, docker-proxy) is refused (exit 3),
    /// with the container's stop command. Same
    /// selection, confirmation and --dry-run as kill. Exit status: 0 closed, 1 nothing
    /// matched, 2 bad input or an error, 3 not permitted, 4 still there afterwards, 5 a
    /// socket changed before it could be closed.
    #[command(after_help = CLOSE_EXAMPLES)]
    Close(CloseArgs),
    /// Wait until a port is up (listening) or free, then optionally run a command
    ///
    /// Watches the socket table and never connects unless --connect or --http is given. up:
    /// every SPEC has a listening TCP socket (bound UDP with -u) reachable at its address
    /// (an IPv4 address is met by itself, 0.0.0.0 or a dual-stack [::]; localhost by either
    /// family, and the output says which). free: a plain bind would work: no socket on the
    /// port remains, connections in TIME_WAIT included (--reuseaddr: only listening and bound
    /// sockets count). Where kernel events are permitted (as for watch), a bind, listen or
    /// close wakes it at once and the table is otherwise read once a second (so a TIME_WAIT's
    /// expiry is seen within a second); else it polls (1 ms backing off to 10 ms).
    /// Exit status: 0 met (or COMMAND's status), 1 timed out, 2 bad input or an error, 3 up
    /// but the owner constraint cannot be checked (the owner is hidden).
    #[command(after_help = WAIT_EXAMPLES)]
    Wait(WaitArgs),
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub select: ListSelection,
    /// How often to read the table when polling (e.g. 100ms, 1s, 5m); at least 50ms.
    /// Kernel events need no interval.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        value_hint = ValueHint::Other,
        help_heading = "Watch"
    )]
    pub interval: String,
    /// Where changes come from: bpf (kernel events, as they happen, with the process
    /// that made them), poll (read the table every --interval), auto (bpf where
    /// permitted, else poll with a note).
    #[arg(
        long,
        value_name = "MODE",
        value_enum,
        default_value_t = EventsArg::Auto,
        help_heading = "Watch"
    )]
    pub events: EventsArg,
    /// Print a snapshot of every socket again this often (e.g. 1h), as at the start.
    #[arg(long, value_name = "DURATION", value_hint = ValueHint::Other, help_heading = "Watch")]
    pub snapshot_every: Option<String>,
    /// Stop after N changes (snapshots do not count).
    #[arg(long, value_name = "N", help_heading = "Watch")]
    pub count: Option<u64>,
    /// Stop after this long (e.g. 30s, 10m).
    #[arg(
        long = "for",
        value_name = "DURATION",
        value_hint = ValueHint::Other,
        help_heading = "Watch"
    )]
    pub duration: Option<String>,
    /// One JSON object per line: {"schema_version", "ts", "host", "event", "socket"}, event
    /// one of snapshot, added, removed, owner_changed; from kernel events, added and removed
    /// also carry "by" (pid, comm, uid, user, container, unit), and {"event": "lost",
    /// "lost": N} counts events the kernel had no room for.
    #[arg(long, help_heading = "Output")]
    pub jsonl: bool,
    /// Numeric ports: no service names.
    #[arg(short = 'n', long, help_heading = "Output")]
    pub numeric: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The earlier (or first host's) `portscope list --json` document.
    #[arg(value_name = "OLD.json", value_hint = ValueHint::FilePath)]
    pub old: std::path::PathBuf,
    /// The later (or second host's) document.
    #[arg(value_name = "NEW.json", value_hint = ValueHint::FilePath)]
    pub new: std::path::PathBuf,
    /// One JSON object per line, as watch --jsonl writes them.
    #[arg(long)]
    pub jsonl: bool,
    /// Also match inodes and compare PIDs (by default two hosts with the same services
    /// diff clean).
    #[arg(long)]
    pub strict: bool,
}

// Protocol and family selection, shared by every command that reads sockets.
#[derive(Debug, Clone, Default, Args)]
pub struct ProtoArgs {
    /// TCP sockets only.
    #[arg(short = 't', long = "tcp", help_heading = "Selection")]
    pub tcp: bool,
    /// UDP sockets only.
    #[arg(short = 'u', long = "udp", help_heading = "Selection")]
    pub udp: bool,
    /// IPv4 sockets only.
    #[arg(short = '4', long = "ipv4", help_heading = "Selection")]
    pub ipv4: bool,
    /// IPv6 sockets only (dual-stack listeners included).
    #[arg(short = '6', long = "ipv6", help_heading = "Selection")]
    pub ipv6: bool,
}

// Output options shared by `list` and `who`.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Print one versioned JSON document instead of a table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Numeric ports: no service names.
    #[arg(short = 'n', long, help_heading = "Output")]
    pub numeric: bool,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: ListSelection,

    /// Sort rows by this key (then port, protocol, address).
    #[arg(long, value_enum, default_value_t = SortKey::Port, help_heading = "Output")]
    pub sort: SortKey,
    /// Reverse the sort order.
    #[arg(short = 'r', long, help_heading = "Output")]
    pub reverse: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

// `list`'s selection, shared with `watch`: the same flags, help and defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct ListSelection {
    #[command(flatten)]
    pub proto: ProtoArgs,

    /// Listening sockets only: TCP listen, UDP unconnected (the default view).
    #[arg(short = 'l', long, help_heading = "Selection")]
    pub listening: bool,
    /// Every state (established, time_wait, ...), with the remote end.
    #[arg(short = 'a', long, help_heading = "Selection")]
    pub all: bool,
    /// Only these states (comma list); implies every state is considered.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "STATE",
        help_heading = "Selection"
    )]
    pub state: Vec<StateArg>,
    #[command(flatten)]
    pub filters: FilterArgs,
}

#[derive(Debug, Clone, Args)]
pub struct WhoArgs {
    /// Port SPEC: 8080, :8080, 8080/tcp, 127.0.0.1:8080, [::1]:8080, *:8080, 8000-8100,
    /// 80,443, http, ssh/tcp.
    #[arg(
        required = true,
        value_name = "SPEC",
        allow_negative_numbers = true,
        value_hint = ValueHint::Other
    )]
    pub specs: Vec<String>,
    /// Match the remote port instead of the local one (who is connected to PORT elsewhere).
    #[arg(long, help_heading = "Selection")]
    pub remote: bool,
    /// Only these states (comma list); by default every state matches.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "STATE",
        help_heading = "Selection"
    )]
    pub state: Vec<StateArg>,
    #[command(flatten)]
    pub proto: ProtoArgs,
    /// Print only the owning PIDs, one per line, deduplicated (like `lsof -t`).
    #[arg(short = 'q', long, conflicts_with = "json", help_heading = "Output")]
    pub quiet: bool,
    /// Stop at the first owner found. Faster, but a socket shared by several processes
    /// (forked workers, passed descriptors) may then list only one of them.
    #[arg(long, help_heading = "Selection")]
    pub first: bool,
    /// Print command lines whole (on a terminal they are cut to its width, ending in an
    /// ellipsis).
    #[arg(short = 'w', long, help_heading = "Output")]
    pub wide: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// What to write.
    #[arg(value_enum, value_name = "FORMAT")]
    pub format: ExportFormat,
    /// prometheus only: write DIR/portscope.prom, replaced atomically, for node_exporter's
    /// --collector.textfile.directory.
    #[arg(
        long,
        value_name = "DIR",
        value_hint = ValueHint::DirPath,
        conflicts_with = "output",
        help_heading = "Output"
    )]
    pub textfile_dir: Option<std::path::PathBuf>,
    /// Write FILE, replaced atomically (through a symlink: its target); a FIFO or a
    /// character device (/dev/null, /dev/stdout) is written to as a shell redirection does;
    /// a directory, socket or block device is refused; `-` (the default) is stdout.
    #[arg(
        short = 'o',
        long,
        value_name = "FILE",
        value_hint = ValueHint::FilePath,
        help_heading = "Output"
    )]
    pub output: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
}

// Selection for commands that always read the whole table (export): list's filters
// without the state choice.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    #[command(flatten)]
    pub proto: ProtoArgs,
    #[command(flatten)]
    pub filters: FilterArgs,
}

// The filters of list, watch and export: port, owner, class, container, unit.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp.
    #[arg(
        short = 'p',
        long,
        value_name = "SPEC",
        allow_negative_numbers = true,
        value_hint = ValueHint::Other,
        help_heading = "Selection"
    )]
    pub port: Vec<String>,
    /// Sockets held by this process ID (comma list).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "PID",
        help_heading = "Selection"
    )]
    pub pid: Vec<String>,
    /// Sockets held by a process whose name contains NAME (case-insensitive).
    #[arg(long, value_name = "NAME", value_hint = ValueHint::Other, help_heading = "Selection")]
    pub process: Vec<String>,
    /// Sockets of this user (name or UID): the socket's owner or a holding process.
    #[arg(
        long,
        value_name = "USER",
        value_hint = ValueHint::Username,
        help_heading = "Selection"
    )]
    pub user: Vec<String>,
    /// Only ports of this RFC 6335 class (comma list).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "CLASS",
        help_heading = "Selection"
    )]
    pub class: Vec<ClassArg>,
    /// Sockets of this container: its name, or its id (a prefix of at least 4 digits).
    #[arg(long, value_name = "NAME|ID", value_hint = ValueHint::Other, help_heading = "Selection")]
    pub container: Vec<String>,
    /// Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service).
    #[arg(long = "systemd-unit", alias = "unit", value_name = "UNIT", value_hint = ValueHint::Other, help_heading = "Selection")]
    pub unit: Vec<String>,
}

/// Formats of `portscope export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Prometheus text exposition format (node_exporter textfile collector)
    Prometheus,
    /// JSON facts in community.general.listen_ports_facts' structure
    AnsibleFacts,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Use this port for the test listeners instead of ports the OS picks.
    #[arg(long, value_name = "PORT", value_hint = ValueHint::Other)]
    pub port: Option<u16>,
    /// Also hold the test sockets in a child process under another user (needs root).
    #[arg(long)]
    pub children: bool,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
    /// List every check, not one line per socket that passed.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// What to open, in the same grammar as portscope who: 8080, 9000/udp, [::1]:7000,
    /// 0 (any free port). Binds to 127.0.0.1 unless an address is given (*:PORT for the
    /// IPv4 wildcard).
    #[arg(value_name = "SPEC", default_value = "0", value_hint = ValueHint::Other)]
    pub specs: Vec<String>,
    /// Close everything after this long (e.g. 500ms, 30s, 5m).
    #[arg(long = "for", value_name = "DURATION", value_hint = ValueHint::Other)]
    pub duration: Option<String>,
    /// Print each opened socket as a JSON line as soon as it is open.
    #[arg(long)]
    pub json: bool,
    /// Also hold every socket in a forked child process, so each has two owners (as a
    /// server's forked workers do).
    #[arg(long)]
    pub fork: bool,
}

#[derive(Debug, Clone, Args)]
pub struct WhyArgs {
    /// What to bind: PORT (0.0.0.0:PORT), ADDR:PORT, [IPV6]:PORT, *:PORT, PORT/udp, or a
    /// service name.
    #[arg(required = true, value_name = "SPEC", value_hint = ValueHint::Other)]
    pub specs: Vec<String>,
    /// Try the bind as this user (name or UID), with its groups and no capabilities
    /// (needs root).
    #[arg(long = "as", value_name = "USER", value_hint = ValueHint::Username)]
    pub as_user: Option<String>,
    /// Set SO_REUSEADDR, as most servers do.
    #[arg(long, help_heading = "Socket options")]
    pub reuseaddr: bool,
    /// Set SO_REUSEPORT.
    #[arg(long, help_heading = "Socket options")]
    pub reuseport: bool,
    /// Set IPV6_V6ONLY on an IPv6 socket.
    #[arg(long, conflicts_with = "dual_stack", help_heading = "Socket options")]
    pub v6only: bool,
    /// Clear IPV6_V6ONLY on an IPv6 socket (IPv4 too through [::]).
    #[arg(long, help_heading = "Socket options")]
    pub dual_stack: bool,
    /// Set IP_FREEBIND: bind an address not (yet) on any interface.
    #[arg(long, help_heading = "Socket options")]
    pub freebind: bool,
    /// TCP (the default).
    #[arg(
        short = 't',
        long = "tcp",
        conflicts_with = "udp",
        help_heading = "Selection"
    )]
    pub tcp: bool,
    /// UDP.
    #[arg(short = 'u', long = "udp", help_heading = "Selection")]
    pub udp: bool,
    /// Print one versioned JSON document instead of text.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

// Selection and confirmation shared by `kill` and `close`.
#[derive(Debug, Clone, Args)]
pub struct ActArgs {
    /// Port SPEC, as for who: 8080, 8080/tcp, 127.0.0.1:8080, [::1]:8080, 8000-8100, http.
    #[arg(required = true, value_name = "SPEC", value_hint = ValueHint::Other)]
    pub specs: Vec<String>,
    #[command(flatten)]
    pub proto: ProtoArgs,
    /// Also act on sockets in every other state (connections on the port), not only
    /// listening TCP and bound UDP sockets (as list's -a).
    #[arg(
        short = 'a',
        long = "all",
        alias = "all-states",
        help_heading = "Selection"
    )]
    pub all_states: bool,
    /// Do not ask for confirmation (needed without a terminal when it would ask).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Only print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan and the result as one versioned JSON document.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct KillArgs {
    #[command(flatten)]
    pub act: ActArgs,
    /// How long to wait for the processes to exit and the port to be free before SIGKILL
    /// (e.g. 500ms, 5s).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_hint = ValueHint::Other)]
    pub grace: String,
    /// Never send SIGKILL: after the grace period, report what still holds the port.
    #[arg(long)]
    pub no_escalate: bool,
    /// The first signal (name or number).
    #[arg(short = 's', long, value_name = "SIGNAL", default_value = "TERM", value_hint = ValueHint::Other)]
    pub signal: String,
}

#[derive(Debug, Clone, Args)]
pub struct CloseArgs {
    #[command(flatten)]
    pub act: ActArgs,
}

/// --until values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum UntilArg {
    /// every SPEC has a listener reachable at its address
    #[default]
    Up,
    /// no listening or bound socket remains on any SPEC
    Free,
}

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Port SPEC, as for who, plus localhost:PORT (either family).
    #[arg(required = true, value_name = "SPEC", value_hint = ValueHint::Other)]
    pub specs: Vec<String>,
    /// The condition to wait for.
    #[arg(long, value_enum, default_value_t = UntilArg::Up, value_name = "WHAT")]
    pub until: UntilArg,
    /// Give up after this long (exit 1); default: wait for ever.
    #[arg(long, value_name = "DURATION", value_hint = ValueHint::Other)]
    pub timeout: Option<String>,
    /// Once listening, also prove the accept path with a TCP connect (sends packets).
    #[arg(long, help_heading = "Probe")]
    pub connect: bool,
    /// Once listening, GET PATH over HTTP and expect 2xx or 3xx (sends packets).
    #[arg(long, value_name = "PATH", conflicts_with = "connect", help_heading = "Probe", value_hint = ValueHint::Other)]
    pub http: Option<String>,
    /// Only a socket held by a process named NAME counts: the whole name (its kernel name
    /// or argv[0]'s file name, case-sensitive), never a part of it.
    #[arg(long = "process", alias = "owner", value_name = "NAME", help_heading = "Owner", value_hint = ValueHint::Other)]
    pub owner: Vec<String>,
    /// Only a socket held by this PID counts (comma list).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "PID",
        help_heading = "Owner"
    )]
    pub pid: Vec<String>,
    /// Only a socket of this user (name or UID) counts.
    #[arg(long, value_name = "USER", help_heading = "Owner", value_hint = ValueHint::Username)]
    pub user: Vec<String>,
    /// Only a socket held by a process in this container (ID or prefix) counts.
    #[arg(long, value_name = "ID", help_heading = "Owner", value_hint = ValueHint::Other)]
    pub container: Vec<String>,
    /// Only a socket held by a process of this systemd unit counts.
    #[arg(long = "systemd-unit", alias = "unit", value_name = "UNIT", help_heading = "Owner", value_hint = ValueHint::Other)]
    pub unit: Vec<String>,
    /// With --until free: free for a bind that sets SO_REUSEADDR, so connections left in
    /// TIME_WAIT (or still open) on the port are not waited for; only listening TCP and bound
    /// UDP sockets are. Without it, free means a plain bind works: every socket on the port,
    /// TIME_WAIT included, must be gone.
    #[arg(long)]
    pub reuseaddr: bool,
    /// Run COMMAND even when the wait timed out (its status is then portscope's).
    #[arg(long, requires = "command")]
    pub run_anyway: bool,
    #[command(flatten)]
    pub proto: ProtoArgs,
    /// Run this once the condition is met; its exit status becomes portscope's.
    #[arg(last = true, value_name = "COMMAND", value_hint = ValueHint::CommandWithArguments)]
    pub command: Vec<String>,
}

/// Socket states accepted by --state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StateArg {
    Listen,
    SynSent,
    #[value(alias = "syn_recv")]
    SynReceived,
    #[value(alias = "estab")]
    Established,
    #[value(name = "fin_wait_1", alias = "fin_wait1")]
    FinWait1,
    #[value(name = "fin_wait_2", alias = "fin_wait2")]
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
    Closed,
    /// UDP: bound, no peer.
    Unconnected,
    /// UDP: connect()ed to a peer.
    Connected,
}

/// RFC 6335 port classes accepted by --class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassArg {
    /// 0-1023
    WellKnown,
    /// 1024-49151
    Registered,
    /// 49152-65535
    Dynamic,
    /// Inside this host's ephemeral range (ip_local_port_range)
    Ephemeral,
}

/// Sort keys accepted by --sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SortKey {
    #[default]
    Port,
    Proto,
    Pid,
    Process,
    State,
    User,
    /// Network namespace: the current one first, then by name, then by inode
    Netns,
}

/// watch --events values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum EventsArg {
    #[default]
    Auto,
    Bpf,
    Poll,
}

/// --color values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}
