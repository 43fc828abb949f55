# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_portscope_global_optspecs
    string join \n t/tcp u/udp 4/ipv4 6/ipv6 l/listening a/all state= p/port= pid= process= user= class= container= systemd-unit= sort= r/reverse json n/numeric color= table-source= owner-source= netns= h/help V/version
end

function __fish_portscope_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_portscope_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_portscope_using_subcommand
    set -l cmd (__fish_portscope_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c portscope -n "__fish_portscope_needs_command" -l state -d 'Only these states (comma list); implies every state is considered' -r -f -a "listen\t''
syn_sent\t''
syn_received\t''
established\t''
fin_wait_1\t''
fin_wait_2\t''
close_wait\t''
closing\t''
last_ack\t''
time_wait\t''
closed\t''
unconnected\t'UDP: bound, no peer'
connected\t'UDP: connect()ed to a peer'"
complete -c portscope -n "__fish_portscope_needs_command" -s p -l port -d 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp' -r -f
complete -c portscope -n "__fish_portscope_needs_command" -l pid -d 'Sockets held by this process ID (comma list)' -r
complete -c portscope -n "__fish_portscope_needs_command" -l process -d 'Sockets held by a process whose name contains NAME (case-insensitive)' -r -f
complete -c portscope -n "__fish_portscope_needs_command" -l user -d 'Sockets of this user (name or UID): the socket\'s owner or a holding process' -r -f -a "(__fish_complete_users)"
complete -c portscope -n "__fish_portscope_needs_command" -l class -d 'Only ports of this RFC 6335 class (comma list)' -r -f -a "well-known\t'0-1023'
registered\t'1024-49151'
dynamic\t'49152-65535'
ephemeral\t'Inside this host\'s ephemeral range (ip_local_port_range)'"
complete -c portscope -n "__fish_portscope_needs_command" -l container -d 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)' -r -f
complete -c portscope -n "__fish_portscope_needs_command" -l systemd-unit -d 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)' -r -f
complete -c portscope -n "__fish_portscope_needs_command" -l sort -d 'Sort rows by this key (then port, protocol, address)' -r -f -a "port\t''
proto\t''
pid\t''
process\t''
state\t''
user\t''
netns\t'Network namespace: the current one first, then by name, then by inode'"
complete -c portscope -n "__fish_portscope_needs_command" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_needs_command" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_needs_command" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_needs_command" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_needs_command" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_needs_command" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_needs_command" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_needs_command" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_needs_command" -s l -l listening -d 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
complete -c portscope -n "__fish_portscope_needs_command" -s a -l all -d 'Every state (established, time_wait, ...), with the remote end'
complete -c portscope -n "__fish_portscope_needs_command" -s r -l reverse -d 'Reverse the sort order'
complete -c portscope -n "__fish_portscope_needs_command" -l json -d 'Print one versioned JSON document instead of a table'
complete -c portscope -n "__fish_portscope_needs_command" -s n -l numeric -d 'Numeric ports: no service names'
complete -c portscope -n "__fish_portscope_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_needs_command" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "list" -d 'List sockets with their owning processes (the default command)'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "ls" -d 'List sockets with their owning processes (the default command)'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "who" -d 'Show which processes hold a port'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "verify" -d 'Open known test sockets and prove that portscope reports them exactly'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "listen" -d 'Hold test listeners open until Ctrl-C, --for, or stdin closes'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "why" -d 'Tell why a port cannot be bound, and how to fix it'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "export" -d 'Export the listening ports for Prometheus or Ansible'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "watch" -d 'Print every change to the socket table as it happens'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "diff" -d 'Compare two saved list --json documents'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "kill" -d 'Free a port: signal the processes that hold it, safely, and check that it is free'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "close" -d 'Destroy the sockets on a port in the kernel, leaving their processes running'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "wait" -d 'Wait until a port is up (listening) or free, then optionally run a command'
complete -c portscope -n "__fish_portscope_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c portscope -n "__fish_portscope_using_subcommand list" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand list" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand list" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand list" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand list" -l state -d 'Only these states (comma list); implies every state is considered' -r -f -a "listen\t''
syn_sent\t''
syn_received\t''
established\t''
fin_wait_1\t''
fin_wait_2\t''
close_wait\t''
closing\t''
last_ack\t''
time_wait\t''
closed\t''
unconnected\t'UDP: bound, no peer'
connected\t'UDP: connect()ed to a peer'"
complete -c portscope -n "__fish_portscope_using_subcommand list" -s p -l port -d 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand list" -l pid -d 'Sockets held by this process ID (comma list)' -r
complete -c portscope -n "__fish_portscope_using_subcommand list" -l process -d 'Sockets held by a process whose name contains NAME (case-insensitive)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand list" -l user -d 'Sockets of this user (name or UID): the socket\'s owner or a holding process' -r -f -a "(__fish_complete_users)"
complete -c portscope -n "__fish_portscope_using_subcommand list" -l class -d 'Only ports of this RFC 6335 class (comma list)' -r -f -a "well-known\t'0-1023'
registered\t'1024-49151'
dynamic\t'49152-65535'
ephemeral\t'Inside this host\'s ephemeral range (ip_local_port_range)'"
complete -c portscope -n "__fish_portscope_using_subcommand list" -l container -d 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand list" -l systemd-unit -d 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand list" -l sort -d 'Sort rows by this key (then port, protocol, address)' -r -f -a "port\t''
proto\t''
pid\t''
process\t''
state\t''
user\t''
netns\t'Network namespace: the current one first, then by name, then by inode'"
complete -c portscope -n "__fish_portscope_using_subcommand list" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s l -l listening -d 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s a -l all -d 'Every state (established, time_wait, ...), with the remote end'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s r -l reverse -d 'Reverse the sort order'
complete -c portscope -n "__fish_portscope_using_subcommand list" -l json -d 'Print one versioned JSON document instead of a table'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s n -l numeric -d 'Numeric ports: no service names'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand list" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l state -d 'Only these states (comma list); implies every state is considered' -r -f -a "listen\t''
syn_sent\t''
syn_received\t''
established\t''
fin_wait_1\t''
fin_wait_2\t''
close_wait\t''
closing\t''
last_ack\t''
time_wait\t''
closed\t''
unconnected\t'UDP: bound, no peer'
connected\t'UDP: connect()ed to a peer'"
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s p -l port -d 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l pid -d 'Sockets held by this process ID (comma list)' -r
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l process -d 'Sockets held by a process whose name contains NAME (case-insensitive)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l user -d 'Sockets of this user (name or UID): the socket\'s owner or a holding process' -r -f -a "(__fish_complete_users)"
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l class -d 'Only ports of this RFC 6335 class (comma list)' -r -f -a "well-known\t'0-1023'
registered\t'1024-49151'
dynamic\t'49152-65535'
ephemeral\t'Inside this host\'s ephemeral range (ip_local_port_range)'"
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l container -d 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l systemd-unit -d 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l sort -d 'Sort rows by this key (then port, protocol, address)' -r -f -a "port\t''
proto\t''
pid\t''
process\t''
state\t''
user\t''
netns\t'Network namespace: the current one first, then by name, then by inode'"
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s l -l listening -d 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s a -l all -d 'Every state (established, time_wait, ...), with the remote end'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s r -l reverse -d 'Reverse the sort order'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -l json -d 'Print one versioned JSON document instead of a table'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s n -l numeric -d 'Numeric ports: no service names'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand ls" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand who" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand who" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand who" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand who" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand who" -l state -d 'Only these states (comma list); by default every state matches' -r -f -a "listen\t''
syn_sent\t''
syn_received\t''
established\t''
fin_wait_1\t''
fin_wait_2\t''
close_wait\t''
closing\t''
last_ack\t''
time_wait\t''
closed\t''
unconnected\t'UDP: bound, no peer'
connected\t'UDP: connect()ed to a peer'"
complete -c portscope -n "__fish_portscope_using_subcommand who" -l remote -d 'Match the remote port instead of the local one (who is connected to PORT elsewhere)'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s q -l quiet -d 'Print only the owning PIDs, one per line, deduplicated (like `lsof -t`)'
complete -c portscope -n "__fish_portscope_using_subcommand who" -l first -d 'Stop at the first owner found. Faster, but a socket shared by several processes (forked workers, passed descriptors) may then list only one of them'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s w -l wide -d 'Print command lines whole (on a terminal they are cut to its width, ending in an ellipsis)'
complete -c portscope -n "__fish_portscope_using_subcommand who" -l json -d 'Print one versioned JSON document instead of a table'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s n -l numeric -d 'Numeric ports: no service names'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand who" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand verify" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand verify" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand verify" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand verify" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand verify" -l port -d 'Use this port for the test listeners instead of ports the OS picks' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand verify" -l children -d 'Also hold the test sockets in a child process under another user (needs root)'
complete -c portscope -n "__fish_portscope_using_subcommand verify" -l json -d 'Print the checks as JSON'
complete -c portscope -n "__fish_portscope_using_subcommand verify" -s v -l verbose -d 'List every check, not one line per socket that passed'
complete -c portscope -n "__fish_portscope_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand verify" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand listen" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand listen" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand listen" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand listen" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand listen" -l for -d 'Close everything after this long (e.g. 500ms, 30s, 5m)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand listen" -l json -d 'Print each opened socket as a JSON line as soon as it is open'
complete -c portscope -n "__fish_portscope_using_subcommand listen" -l fork -d 'Also hold every socket in a forked child process, so each has two owners (as a server\'s forked workers do)'
complete -c portscope -n "__fish_portscope_using_subcommand listen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand listen" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand why" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand why" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand why" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand why" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand why" -l as -d 'Try the bind as this user (name or UID), with its groups and no capabilities (needs root)' -r -f -a "(__fish_complete_users)"
complete -c portscope -n "__fish_portscope_using_subcommand why" -l reuseaddr -d 'Set SO_REUSEADDR, as most servers do'
complete -c portscope -n "__fish_portscope_using_subcommand why" -l reuseport -d 'Set SO_REUSEPORT'
complete -c portscope -n "__fish_portscope_using_subcommand why" -l v6only -d 'Set IPV6_V6ONLY on an IPv6 socket'
complete -c portscope -n "__fish_portscope_using_subcommand why" -l dual-stack -d 'Clear IPV6_V6ONLY on an IPv6 socket (IPv4 too through [::])'
complete -c portscope -n "__fish_portscope_using_subcommand why" -l freebind -d 'Set IP_FREEBIND: bind an address not (yet) on any interface'
complete -c portscope -n "__fish_portscope_using_subcommand why" -s t -l tcp -d 'TCP (the default)'
complete -c portscope -n "__fish_portscope_using_subcommand why" -s u -l udp -d 'UDP'
complete -c portscope -n "__fish_portscope_using_subcommand why" -l json -d 'Print one versioned JSON document instead of text'
complete -c portscope -n "__fish_portscope_using_subcommand why" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand why" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand export" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand export" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand export" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand export" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand export" -l textfile-dir -d 'prometheus only: write DIR/portscope.prom, replaced atomically, for node_exporter\'s --collector.textfile.directory' -r -f -a "(__fish_complete_directories)"
complete -c portscope -n "__fish_portscope_using_subcommand export" -s o -l output -d 'Write FILE, replaced atomically (through a symlink: its target); a FIFO or a character device (/dev/null, /dev/stdout) is written to as a shell redirection does; a directory, socket or block device is refused; `-` (the default) is stdout' -r -F
complete -c portscope -n "__fish_portscope_using_subcommand export" -s p -l port -d 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand export" -l pid -d 'Sockets held by this process ID (comma list)' -r
complete -c portscope -n "__fish_portscope_using_subcommand export" -l process -d 'Sockets held by a process whose name contains NAME (case-insensitive)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand export" -l user -d 'Sockets of this user (name or UID): the socket\'s owner or a holding process' -r -f -a "(__fish_complete_users)"
complete -c portscope -n "__fish_portscope_using_subcommand export" -l class -d 'Only ports of this RFC 6335 class (comma list)' -r -f -a "well-known\t'0-1023'
registered\t'1024-49151'
dynamic\t'49152-65535'
ephemeral\t'Inside this host\'s ephemeral range (ip_local_port_range)'"
complete -c portscope -n "__fish_portscope_using_subcommand export" -l container -d 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand export" -l systemd-unit -d 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand export" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand export" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand export" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand export" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand export" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l state -d 'Only these states (comma list); implies every state is considered' -r -f -a "listen\t''
syn_sent\t''
syn_received\t''
established\t''
fin_wait_1\t''
fin_wait_2\t''
close_wait\t''
closing\t''
last_ack\t''
time_wait\t''
closed\t''
unconnected\t'UDP: bound, no peer'
connected\t'UDP: connect()ed to a peer'"
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s p -l port -d 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l pid -d 'Sockets held by this process ID (comma list)' -r
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l process -d 'Sockets held by a process whose name contains NAME (case-insensitive)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l user -d 'Sockets of this user (name or UID): the socket\'s owner or a holding process' -r -f -a "(__fish_complete_users)"
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l class -d 'Only ports of this RFC 6335 class (comma list)' -r -f -a "well-known\t'0-1023'
registered\t'1024-49151'
dynamic\t'49152-65535'
ephemeral\t'Inside this host\'s ephemeral range (ip_local_port_range)'"
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l container -d 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l systemd-unit -d 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l interval -d 'How often to read the table when polling (e.g. 100ms, 1s, 5m); at least 50ms. Kernel events need no interval' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l events -d 'Where changes come from: bpf (kernel events, as they happen, with the process that made them), poll (read the table every --interval), auto (bpf where permitted, else poll with a note)' -r -f -a "auto\t''
bpf\t''
poll\t''"
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l snapshot-every -d 'Print a snapshot of every socket again this often (e.g. 1h), as at the start' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l count -d 'Stop after N changes (snapshots do not count)' -r
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l for -d 'Stop after this long (e.g. 30s, 10m)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s l -l listening -d 'Listening sockets only: TCP listen, UDP unconnected (the default view)'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s a -l all -d 'Every state (established, time_wait, ...), with the remote end'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -l jsonl -d 'One JSON object per line: {"schema_version", "ts", "host", "event", "socket"}, event one of snapshot, added, removed, owner_changed; from kernel events, added and removed also carry "by" (pid, comm, uid, user, container, unit), and {"event": "lost", "lost": N} counts events the kernel had no room for'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s n -l numeric -d 'Numeric ports: no service names'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand watch" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand diff" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand diff" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand diff" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand diff" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand diff" -l jsonl -d 'One JSON object per line, as watch --jsonl writes them'
complete -c portscope -n "__fish_portscope_using_subcommand diff" -l strict -d 'Also match inodes and compare PIDs (by default two hosts with the same services diff clean)'
complete -c portscope -n "__fish_portscope_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand diff" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand kill" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand kill" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand kill" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand kill" -l grace -d 'How long to wait for the processes to exit and the port to be free before SIGKILL (e.g. 500ms, 5s)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s s -l signal -d 'The first signal (name or number)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s a -l all -d 'Also act on sockets in every other state (connections on the port), not only listening TCP and bound UDP sockets (as list\'s -a)'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s y -l yes -d 'Do not ask for confirmation (needed without a terminal when it would ask)'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -l dry-run -d 'Only print the plan; change nothing'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -l json -d 'Print the plan and the result as one versioned JSON document'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -l no-escalate -d 'Never send SIGKILL: after the grace period, report what still holds the port'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand kill" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand close" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand close" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand close" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand close" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand close" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand close" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand close" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand close" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_using_subcommand close" -s a -l all -d 'Also act on sockets in every other state (connections on the port), not only listening TCP and bound UDP sockets (as list\'s -a)'
complete -c portscope -n "__fish_portscope_using_subcommand close" -s y -l yes -d 'Do not ask for confirmation (needed without a terminal when it would ask)'
complete -c portscope -n "__fish_portscope_using_subcommand close" -l dry-run -d 'Only print the plan; change nothing'
complete -c portscope -n "__fish_portscope_using_subcommand close" -l json -d 'Print the plan and the result as one versioned JSON document'
complete -c portscope -n "__fish_portscope_using_subcommand close" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand close" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l color -d 'When to colour the table (used by list)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l table-source -d 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere' -r -f -a "auto\t''
netlink\t'netlink sock_diag (Linux; what ss uses)'
procnet\t'/proc/net/{tcp,tcp6,udp,udp6} (Linux; no v6-only flags)'
netstat2\t'the netstat2 crate (every platform; no queues, v6-only flags or UDP peers)'"
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l owner-source -d 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2\'s PIDs elsewhere. none: no owner join at all (like ss without -p)' -r -f -a "auto\t''
bpf\t'a BPF iterator over every task\'s files (Linux; needs CAP_BPF and CAP_PERFMON)'
procfs\t'a scan of /proc/*/fd (Linux)'
none\t'no owner join'"
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l netns -d 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process\'s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l until -d 'The condition to wait for' -r -f -a "up\t'every SPEC has a listener reachable at its address'
free\t'no listening or bound socket remains on any SPEC'"
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l timeout -d 'Give up after this long (exit 1); default: wait for ever' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l http -d 'Once listening, GET PATH over HTTP and expect 2xx or 3xx (sends packets)' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l process -d 'Only a socket held by a process named NAME counts: the whole name (its kernel name or argv[0]\'s file name, case-sensitive), never a part of it' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l pid -d 'Only a socket held by this PID counts (comma list)' -r
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l user -d 'Only a socket of this user (name or UID) counts' -r -f -a "(__fish_complete_users)"
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l container -d 'Only a socket held by a process in this container (ID or prefix) counts' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l systemd-unit -d 'Only a socket held by a process of this systemd unit counts' -r -f
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l connect -d 'Once listening, also prove the accept path with a TCP connect (sends packets)'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l reuseaddr -d 'With --until free: free for a bind that sets SO_REUSEADDR, so connections left in TIME_WAIT (or still open) on the port are not waited for; only listening TCP and bound UDP sockets are. Without it, free means a plain bind works: every socket on the port, TIME_WAIT included, must be gone'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -l run-anyway -d 'Run COMMAND even when the wait timed out (its status is then portscope\'s)'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -s t -l tcp -d 'TCP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -s u -l udp -d 'UDP sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -s 6 -l ipv6 -d 'IPv6 sockets only (dual-stack listeners included)'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portscope -n "__fish_portscope_using_subcommand wait" -s V -l version -d 'Print version'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "list" -d 'List sockets with their owning processes (the default command)'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "who" -d 'Show which processes hold a port'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "verify" -d 'Open known test sockets and prove that portscope reports them exactly'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "listen" -d 'Hold test listeners open until Ctrl-C, --for, or stdin closes'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "why" -d 'Tell why a port cannot be bound, and how to fix it'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "export" -d 'Export the listening ports for Prometheus or Ansible'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "watch" -d 'Print every change to the socket table as it happens'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "diff" -d 'Compare two saved list --json documents'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "kill" -d 'Free a port: signal the processes that hold it, safely, and check that it is free'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "close" -d 'Destroy the sockets on a port in the kernel, leaving their processes running'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "wait" -d 'Wait until a port is up (listening) or free, then optionally run a command'
complete -c portscope -n "__fish_portscope_using_subcommand help; and not __fish_seen_subcommand_from list who verify listen why export watch diff kill close wait help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
