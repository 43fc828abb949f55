
use builtin;
use str;

set edit:completion:arg-completer[portscope] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'portscope'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'portscope'= {
            cand --state 'Only these states (comma list); implies every state is considered'
            cand -p 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp'
            cand --port 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp'
            cand --pid 'Sockets held by this process ID (comma list)'
            cand --process 'Sockets held by a process whose name contains NAME (case-insensitive)'
            cand --user 'Sockets of this user (name or UID): the socket''s owner or a holding process'
            cand --class 'Only ports of this RFC 6335 class (comma list)'
            cand --sort 'Sort rows by this key (then port, protocol, address)'
            cand --color 'When to colour the table (used by list)'
            cand --table-source 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere'
            cand --owner-source 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)'
            cand --netns 'Network namespaces to read: current (default), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)'
            cand -t 'TCP sockets only'
            cand --tcp 'TCP sockets only'
            cand -u 'UDP sockets only'
            cand --udp 'UDP sockets only'
            cand -4 'IPv4 sockets only'
            cand --ipv4 'IPv4 sockets only'
            cand -6 'IPv6 sockets only (dual-stack listeners included)'
            cand --ipv6 'IPv6 sockets only (dual-stack listeners included)'
            cand -l 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
            cand --listening 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
            cand -a 'Every state (established, time_wait, ...), with the remote end'
            cand --all 'Every state (established, time_wait, ...), with the remote end'
            cand -r 'Reverse the sort order'
            cand --reverse 'Reverse the sort order'
            cand --json 'Print one versioned JSON document instead of a table'
            cand -n 'Numeric ports: no service names'
            cand --numeric 'Numeric ports: no service names'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'List sockets with their owning processes (the default command)'
            cand ls 'List sockets with their owning processes (the default command)'
            cand who 'Show which processes hold a port'
            cand verify 'Open known test sockets and prove that portscope reports them exactly'
            cand listen 'Hold test listeners open until Ctrl-C, --for, or stdin closes'
            cand why 'Tell why a port cannot be bound, and how to fix it'
            cand export 'Export the listening ports for Prometheus or Ansible'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'portscope;list'= {
            cand --state 'Only these states (comma list); implies every state is considered'
            cand -p 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp'
            cand --port 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp'
            cand --pid 'Sockets held by this process ID (comma list)'
            cand --process 'Sockets held by a process whose name contains NAME (case-insensitive)'
            cand --user 'Sockets of this user (name or UID): the socket''s owner or a holding process'
            cand --class 'Only ports of this RFC 6335 class (comma list)'
            cand --sort 'Sort rows by this key (then port, protocol, address)'
            cand --color 'When to colour the table (used by list)'
            cand --table-source 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere'
            cand --owner-source 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)'
            cand --netns 'Network namespaces to read: current (default), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)'
            cand -t 'TCP sockets only'
            cand --tcp 'TCP sockets only'
            cand -u 'UDP sockets only'
            cand --udp 'UDP sockets only'
            cand -4 'IPv4 sockets only'
            cand --ipv4 'IPv4 sockets only'
            cand -6 'IPv6 sockets only (dual-stack listeners included)'
            cand --ipv6 'IPv6 sockets only (dual-stack listeners included)'
            cand -l 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
            cand --listening 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
            cand -a 'Every state (established, time_wait, ...), with the remote end'
            cand --all 'Every state (established, time_wait, ...), with the remote end'
            cand -r 'Reverse the sort order'
            cand --reverse 'Reverse the sort order'
            cand --json 'Print one versioned JSON document instead of a table'
            cand -n 'Numeric ports: no service names'
            cand --numeric 'Numeric ports: no service names'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'portscope;ls'= {
            cand --state 'Only these states (comma list); implies every state is considered'
            cand -p 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp'
            cand --port 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp'
            cand --pid 'Sockets held by this process ID (comma list)'
            cand --process 'Sockets held by a process whose name contains NAME (case-insensitive)'
            cand --user 'Sockets of this user (name or UID): the socket''s owner or a holding process'
            cand --class 'Only ports of this RFC 6335 class (comma list)'
            cand --sort 'Sort rows by this key (then port, protocol, address)'
            cand --color 'When to colour the table (used by list)'
            cand --table-source 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere'
            cand --owner-source 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)'
            cand --netns 'Network namespaces to read: current (default), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)'
            cand -t 'TCP sockets only'
            cand --tcp 'TCP sockets only'
            cand -u 'UDP sockets only'
            cand --udp 'UDP sockets only'
            cand -4 'IPv4 sockets only'
            cand --ipv4 'IPv4 sockets only'
            cand -6 'IPv6 sockets only (dual-stack listeners included)'
            cand --ipv6 'IPv6 sockets only (dual-stack listeners included)'
            cand -l 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
            cand --listening 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
            cand -a 'Every state (established, time_wait, ...), with the remote end'
            cand --all 'Every state (established, time_wait, ...), with the remote end'
            cand -r 'Reverse the sort order'
            cand --reverse 'Reverse the sort order'
            cand --json 'Print one versioned JSON document instead of a table'
            cand -n 'Numeric ports: no service names'
            cand --numeric 'Numeric ports: no service names'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'portscope;who'= {
            cand --state 'Only these states (comma list); by default every state matches'
            cand --color 'When to colour the table (used by list)'
            cand --table-source 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere'
            cand --owner-source 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)'
            cand --netns 'Network namespaces to read: current (default), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)'
            cand --remote 'Match the remote port instead of the local one (who is connected to PORT elsewhere)'
            cand -t 'TCP sockets only'
            cand --tcp 'TCP sockets only'
            cand -u 'UDP sockets only'
            cand --udp 'UDP sockets only'
            cand -4 'IPv4 sockets only'
            cand --ipv4 'IPv4 sockets only'
            cand -6 'IPv6 sockets only (dual-stack listeners included)'
            cand --ipv6 'IPv6 sockets only (dual-stack listeners included)'
            cand -q 'Print only the owning PIDs, one per line, deduplicated (like `lsof -t`)'
            cand --quiet 'Print only the owning PIDs, one per line, deduplicated (like `lsof -t`)'
            cand --first 'Stop at the first owner found. Faster, but a socket shared by several processes (forked workers, passed descriptors) may then list only one of them'
            cand --json 'Print one versioned JSON document instead of a table'
            cand -n 'Numeric ports: no service names'
            cand --numeric 'Numeric ports: no service names'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'portscope;verify'= {
            cand --port 'Use this port for the test listeners instead of ports the OS picks'
            cand --color 'When to colour the table (used by list)'
            cand --table-source 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere'
            cand --owner-source 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)'
            cand --netns 'Network namespaces to read: current (default), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)'
            cand --children 'Also hold the test sockets in a child process under another user (needs root)'
            cand --json 'Print the checks as JSON'
            cand -v 'List every check, not one line per socket that passed'
            cand --verbose 'List every check, not one line per socket that passed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'portscope;listen'= {
            cand --for 'Close everything after this long (e.g. 500ms, 30s, 5m)'
            cand --color 'When to colour the table (used by list)'
            cand --table-source 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere'
            cand --owner-source 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)'
            cand --netns 'Network namespaces to read: current (default), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)'
            cand --json 'Print each opened socket as a JSON line as soon as it is open'
            cand --fork 'Also hold every socket in a forked child process, so each has two owners (as a server''s forked workers do)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'portscope;why'= {
            cand --as 'Try the bind as this user (name or UID), with its groups and no capabilities (needs root)'
            cand --color 'When to colour the table (used by list)'
            cand --table-source 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere'
            cand --owner-source 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)'
            cand --netns 'Network namespaces to read: current (default), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)'
            cand --reuseaddr 'Set SO_REUSEADDR, as most servers do'
            cand --reuseport 'Set SO_REUSEPORT'
            cand --v6only 'Set IPV6_V6ONLY on an IPv6 socket'
            cand --dual-stack 'Clear IPV6_V6ONLY on an IPv6 socket (IPv4 too through [::])'
            cand --freebind 'Set IP_FREEBIND: bind an address not (yet) on any interface'
            cand -t 'TCP (the default)'
            cand --tcp 'TCP (the default)'
            cand -u 'UDP'
            cand --udp 'UDP'
            cand --json 'Print one versioned JSON document instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'portscope;export'= {
            cand --textfile-dir 'prometheus only: write DIR/portscope.prom, replaced atomically, for node_exporter''s --collector.textfile.directory'
            cand -o 'Write FILE, replaced atomically; `-` (the default) is stdout'
            cand --output 'Write FILE, replaced atomically; `-` (the default) is stdout'
            cand -p 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp'
            cand --port 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp'
            cand --pid 'Sockets held by this process ID (comma list)'
            cand --process 'Sockets held by a process whose name contains NAME (case-insensitive)'
            cand --user 'Sockets of this user (name or UID): the socket''s owner or a holding process'
            cand --class 'Only ports of this RFC 6335 class (comma list)'
            cand --color 'When to colour the table (used by list)'
            cand --table-source 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere'
            cand --owner-source 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)'
            cand --netns 'Network namespaces to read: current (default), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)'
            cand -t 'TCP sockets only'
            cand --tcp 'TCP sockets only'
            cand -u 'UDP sockets only'
            cand --udp 'UDP sockets only'
            cand -4 'IPv4 sockets only'
            cand --ipv4 'IPv4 sockets only'
            cand -6 'IPv6 sockets only (dual-stack listeners included)'
            cand --ipv6 'IPv6 sockets only (dual-stack listeners included)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'portscope;help'= {
            cand list 'List sockets with their owning processes (the default command)'
            cand who 'Show which processes hold a port'
            cand verify 'Open known test sockets and prove that portscope reports them exactly'
            cand listen 'Hold test listeners open until Ctrl-C, --for, or stdin closes'
            cand why 'Tell why a port cannot be bound, and how to fix it'
            cand export 'Export the listening ports for Prometheus or Ansible'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'portscope;help;list'= {
        }
        &'portscope;help;who'= {
        }
        &'portscope;help;verify'= {
        }
        &'portscope;help;listen'= {
        }
        &'portscope;help;why'= {
        }
        &'portscope;help;export'= {
        }
        &'portscope;help;help'= {
        }
    ]
    $completions[$command]
}
