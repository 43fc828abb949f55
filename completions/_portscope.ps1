
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'portscope' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'portscope'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'portscope' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only these states (comma list); implies every state is considered')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Sockets held by this process ID (comma list)')
            [CompletionResult]::new('--process', '--process', [CompletionResultType]::ParameterName, 'Sockets held by a process whose name contains NAME (case-insensitive)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Sockets of this user (name or UID): the socket''s owner or a holding process')
            [CompletionResult]::new('--class', '--class', [CompletionResultType]::ParameterName, 'Only ports of this RFC 6335 class (comma list)')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)')
            [CompletionResult]::new('--systemd-unit', '--systemd-unit', [CompletionResultType]::ParameterName, 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)')
            [CompletionResult]::new('--sort', '--sort', [CompletionResultType]::ParameterName, 'Sort rows by this key (then port, protocol, address)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Listening sockets only: TCP listen, UDP unconnected (the default view)')
            [CompletionResult]::new('--listening', '--listening', [CompletionResultType]::ParameterName, 'Listening sockets only: TCP listen, UDP unconnected (the default view)')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Every state (established, time_wait, ...), with the remote end')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every state (established, time_wait, ...), with the remote end')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Reverse the sort order')
            [CompletionResult]::new('--reverse', '--reverse', [CompletionResultType]::ParameterName, 'Reverse the sort order')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one versioned JSON document instead of a table')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('--numeric', '--numeric', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List sockets with their owning processes (the default command)')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List sockets with their owning processes (the default command)')
            [CompletionResult]::new('who', 'who', [CompletionResultType]::ParameterValue, 'Show which processes hold a port')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Open known test sockets and prove that portscope reports them exactly')
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Hold test listeners open until Ctrl-C, --for, or stdin closes')
            [CompletionResult]::new('why', 'why', [CompletionResultType]::ParameterValue, 'Tell why a port cannot be bound, and how to fix it')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Export the listening ports for Prometheus or Ansible')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Print every change to the socket table as it happens')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare two saved list --json documents')
            [CompletionResult]::new('kill', 'kill', [CompletionResultType]::ParameterValue, 'Free a port: signal the processes that hold it, safely, and check that it is free')
            [CompletionResult]::new('close', 'close', [CompletionResultType]::ParameterValue, 'Destroy the sockets on a port in the kernel, leaving their processes running')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait until a port is up (listening) or free, then optionally run a command')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'portscope;list' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only these states (comma list); implies every state is considered')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Sockets held by this process ID (comma list)')
            [CompletionResult]::new('--process', '--process', [CompletionResultType]::ParameterName, 'Sockets held by a process whose name contains NAME (case-insensitive)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Sockets of this user (name or UID): the socket''s owner or a holding process')
            [CompletionResult]::new('--class', '--class', [CompletionResultType]::ParameterName, 'Only ports of this RFC 6335 class (comma list)')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)')
            [CompletionResult]::new('--systemd-unit', '--systemd-unit', [CompletionResultType]::ParameterName, 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)')
            [CompletionResult]::new('--sort', '--sort', [CompletionResultType]::ParameterName, 'Sort rows by this key (then port, protocol, address)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Listening sockets only: TCP listen, UDP unconnected (the default view)')
            [CompletionResult]::new('--listening', '--listening', [CompletionResultType]::ParameterName, 'Listening sockets only: TCP listen, UDP unconnected (the default view)')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Every state (established, time_wait, ...), with the remote end')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every state (established, time_wait, ...), with the remote end')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Reverse the sort order')
            [CompletionResult]::new('--reverse', '--reverse', [CompletionResultType]::ParameterName, 'Reverse the sort order')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one versioned JSON document instead of a table')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('--numeric', '--numeric', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;ls' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only these states (comma list); implies every state is considered')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Sockets held by this process ID (comma list)')
            [CompletionResult]::new('--process', '--process', [CompletionResultType]::ParameterName, 'Sockets held by a process whose name contains NAME (case-insensitive)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Sockets of this user (name or UID): the socket''s owner or a holding process')
            [CompletionResult]::new('--class', '--class', [CompletionResultType]::ParameterName, 'Only ports of this RFC 6335 class (comma list)')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)')
            [CompletionResult]::new('--systemd-unit', '--systemd-unit', [CompletionResultType]::ParameterName, 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)')
            [CompletionResult]::new('--sort', '--sort', [CompletionResultType]::ParameterName, 'Sort rows by this key (then port, protocol, address)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Listening sockets only: TCP listen, UDP unconnected (the default view)')
            [CompletionResult]::new('--listening', '--listening', [CompletionResultType]::ParameterName, 'Listening sockets only: TCP listen, UDP unconnected (the default view)')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Every state (established, time_wait, ...), with the remote end')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every state (established, time_wait, ...), with the remote end')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Reverse the sort order')
            [CompletionResult]::new('--reverse', '--reverse', [CompletionResultType]::ParameterName, 'Reverse the sort order')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one versioned JSON document instead of a table')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('--numeric', '--numeric', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;who' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only these states (comma list); by default every state matches')
            [CompletionResult]::new('--remote', '--remote', [CompletionResultType]::ParameterName, 'Match the remote port instead of the local one (who is connected to PORT elsewhere)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the owning PIDs, one per line, deduplicated (like `lsof -t`)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the owning PIDs, one per line, deduplicated (like `lsof -t`)')
            [CompletionResult]::new('--first', '--first', [CompletionResultType]::ParameterName, 'Stop at the first owner found. Faster, but a socket shared by several processes (forked workers, passed descriptors) may then list only one of them')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Print command lines whole (on a terminal they are cut to its width, ending in an ellipsis)')
            [CompletionResult]::new('--wide', '--wide', [CompletionResultType]::ParameterName, 'Print command lines whole (on a terminal they are cut to its width, ending in an ellipsis)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one versioned JSON document instead of a table')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('--numeric', '--numeric', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;verify' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Use this port for the test listeners instead of ports the OS picks')
            [CompletionResult]::new('--children', '--children', [CompletionResultType]::ParameterName, 'Also hold the test sockets in a child process under another user (needs root)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the checks as JSON')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'List every check, not one line per socket that passed')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'List every check, not one line per socket that passed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;listen' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--for', '--for', [CompletionResultType]::ParameterName, 'Close everything after this long (e.g. 500ms, 30s, 5m)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print each opened socket as a JSON line as soon as it is open')
            [CompletionResult]::new('--fork', '--fork', [CompletionResultType]::ParameterName, 'Also hold every socket in a forked child process, so each has two owners (as a server''s forked workers do)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;why' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'Try the bind as this user (name or UID), with its groups and no capabilities (needs root)')
            [CompletionResult]::new('--reuseaddr', '--reuseaddr', [CompletionResultType]::ParameterName, 'Set SO_REUSEADDR, as most servers do')
            [CompletionResult]::new('--reuseport', '--reuseport', [CompletionResultType]::ParameterName, 'Set SO_REUSEPORT')
            [CompletionResult]::new('--v6only', '--v6only', [CompletionResultType]::ParameterName, 'Set IPV6_V6ONLY on an IPv6 socket')
            [CompletionResult]::new('--dual-stack', '--dual-stack', [CompletionResultType]::ParameterName, 'Clear IPV6_V6ONLY on an IPv6 socket (IPv4 too through [::])')
            [CompletionResult]::new('--freebind', '--freebind', [CompletionResultType]::ParameterName, 'Set IP_FREEBIND: bind an address not (yet) on any interface')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP (the default)')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP (the default)')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one versioned JSON document instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;export' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--textfile-dir', '--textfile-dir', [CompletionResultType]::ParameterName, 'prometheus only: write DIR/portscope.prom, replaced atomically, for node_exporter''s --collector.textfile.directory')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write FILE, replaced atomically (through a symlink: its target); a FIFO or a character device (/dev/null, /dev/stdout) is written to as a shell redirection does; a directory, socket or block device is refused; `-` (the default) is stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write FILE, replaced atomically (through a symlink: its target); a FIFO or a character device (/dev/null, /dev/stdout) is written to as a shell redirection does; a directory, socket or block device is refused; `-` (the default) is stdout')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Sockets held by this process ID (comma list)')
            [CompletionResult]::new('--process', '--process', [CompletionResultType]::ParameterName, 'Sockets held by a process whose name contains NAME (case-insensitive)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Sockets of this user (name or UID): the socket''s owner or a holding process')
            [CompletionResult]::new('--class', '--class', [CompletionResultType]::ParameterName, 'Only ports of this RFC 6335 class (comma list)')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)')
            [CompletionResult]::new('--systemd-unit', '--systemd-unit', [CompletionResultType]::ParameterName, 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;watch' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only these states (comma list); implies every state is considered')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Local port SPEC: 80, 80,443, 8000-8100, http, 127.0.0.1:80, [::1]:80, 53/udp')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Sockets held by this process ID (comma list)')
            [CompletionResult]::new('--process', '--process', [CompletionResultType]::ParameterName, 'Sockets held by a process whose name contains NAME (case-insensitive)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Sockets of this user (name or UID): the socket''s owner or a holding process')
            [CompletionResult]::new('--class', '--class', [CompletionResultType]::ParameterName, 'Only ports of this RFC 6335 class (comma list)')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Sockets of this container: its name, or its id (a prefix of at least 4 digits)')
            [CompletionResult]::new('--systemd-unit', '--systemd-unit', [CompletionResultType]::ParameterName, 'Sockets of this systemd unit (`nginx.service`; `nginx` means nginx.service)')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'How often to read the table when polling (e.g. 100ms, 1s, 5m); at least 50ms. Kernel events need no interval')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Where changes come from: bpf (kernel events, as they happen, with the process that made them), poll (read the table every --interval), auto (bpf where permitted, else poll with a note)')
            [CompletionResult]::new('--snapshot-every', '--snapshot-every', [CompletionResultType]::ParameterName, 'Print a snapshot of every socket again this often (e.g. 1h), as at the start')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Stop after N changes (snapshots do not count)')
            [CompletionResult]::new('--for', '--for', [CompletionResultType]::ParameterName, 'Stop after this long (e.g. 30s, 10m)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Listening sockets only: TCP listen, UDP unconnected (the default view)')
            [CompletionResult]::new('--listening', '--listening', [CompletionResultType]::ParameterName, 'Listening sockets only: TCP listen, UDP unconnected (the default view)')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Every state (established, time_wait, ...), with the remote end')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every state (established, time_wait, ...), with the remote end')
            [CompletionResult]::new('--jsonl', '--jsonl', [CompletionResultType]::ParameterName, 'One JSON object per line: {"schema_version", "ts", "host", "event", "socket"}, event one of snapshot, added, removed, owner_changed; from kernel events, added and removed also carry "by" (pid, comm, uid, user, container, unit), and {"event": "lost", "lost": N} counts events the kernel had no room for')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('--numeric', '--numeric', [CompletionResultType]::ParameterName, 'Numeric ports: no service names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;diff' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--jsonl', '--jsonl', [CompletionResultType]::ParameterName, 'One JSON object per line, as watch --jsonl writes them')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Also match inodes and compare PIDs (by default two hosts with the same services diff clean)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;kill' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'How long to wait for the processes to exit and the port to be free before SIGKILL (e.g. 500ms, 5s)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'The first signal (name or number)')
            [CompletionResult]::new('--signal', '--signal', [CompletionResultType]::ParameterName, 'The first signal (name or number)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Also act on sockets in every other state (connections on the port), not only listening TCP and bound UDP sockets (as list''s -a)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Also act on sockets in every other state (connections on the port), not only listening TCP and bound UDP sockets (as list''s -a)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed without a terminal when it would ask)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed without a terminal when it would ask)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Only print the plan; change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the plan and the result as one versioned JSON document')
            [CompletionResult]::new('--no-escalate', '--no-escalate', [CompletionResultType]::ParameterName, 'Never send SIGKILL: after the grace period, report what still holds the port')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;close' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Also act on sockets in every other state (connections on the port), not only listening TCP and bound UDP sockets (as list''s -a)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Also act on sockets in every other state (connections on the port), not only listening TCP and bound UDP sockets (as list''s -a)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed without a terminal when it would ask)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed without a terminal when it would ask)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Only print the plan; change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the plan and the result as one versioned JSON document')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;wait' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the table (used by list)')
            [CompletionResult]::new('--table-source', '--table-source', [CompletionResultType]::ParameterName, 'Socket-table backend. auto: netlink sock_diag, falling back to /proc/net per table (Linux), netstat2 elsewhere')
            [CompletionResult]::new('--owner-source', '--owner-source', [CompletionResultType]::ParameterName, 'Owner backend. auto: on Linux the BPF iterator where the kernel allows it and the host has enough descriptors for it to pay, else the /proc/*/fd scan; netstat2''s PIDs elsewhere. none: no owner join at all (like ss without -p)')
            [CompletionResult]::new('--netns', '--netns', [CompletionResultType]::ParameterName, 'Network namespaces to read: current (default; all with --container or --systemd-unit), all (every namespace in use: containers, pods, `ip netns`), an `ip netns` NAME, a PID (that process''s namespace) or a PATH to an nsfs file (/run/netns/NAME, /proc/PID/ns/net)')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'The condition to wait for')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (exit 1); default: wait for ever')
            [CompletionResult]::new('--http', '--http', [CompletionResultType]::ParameterName, 'Once listening, GET PATH over HTTP and expect 2xx or 3xx (sends packets)')
            [CompletionResult]::new('--process', '--process', [CompletionResultType]::ParameterName, 'Only a socket held by a process named NAME counts: the whole name (its kernel name or argv[0]''s file name, case-sensitive), never a part of it')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Only a socket held by this PID counts (comma list)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Only a socket of this user (name or UID) counts')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Only a socket held by a process in this container (ID or prefix) counts')
            [CompletionResult]::new('--systemd-unit', '--systemd-unit', [CompletionResultType]::ParameterName, 'Only a socket held by a process of this systemd unit counts')
            [CompletionResult]::new('--connect', '--connect', [CompletionResultType]::ParameterName, 'Once listening, also prove the accept path with a TCP connect (sends packets)')
            [CompletionResult]::new('--reuseaddr', '--reuseaddr', [CompletionResultType]::ParameterName, 'With --until free: free for a bind that sets SO_REUSEADDR, so connections left in TIME_WAIT (or still open) on the port are not waited for; only listening TCP and bound UDP sockets are. Without it, free means a plain bind works: every socket on the port, TIME_WAIT included, must be gone')
            [CompletionResult]::new('--run-anyway', '--run-anyway', [CompletionResultType]::ParameterName, 'Run COMMAND even when the wait timed out (its status is then portscope''s)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('--tcp', '--tcp', [CompletionResultType]::ParameterName, 'TCP sockets only')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('--udp', '--udp', [CompletionResultType]::ParameterName, 'UDP sockets only')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'IPv4 sockets only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'IPv6 sockets only (dual-stack listeners included)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'portscope;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List sockets with their owning processes (the default command)')
            [CompletionResult]::new('who', 'who', [CompletionResultType]::ParameterValue, 'Show which processes hold a port')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Open known test sockets and prove that portscope reports them exactly')
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Hold test listeners open until Ctrl-C, --for, or stdin closes')
            [CompletionResult]::new('why', 'why', [CompletionResultType]::ParameterValue, 'Tell why a port cannot be bound, and how to fix it')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Export the listening ports for Prometheus or Ansible')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Print every change to the socket table as it happens')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare two saved list --json documents')
            [CompletionResult]::new('kill', 'kill', [CompletionResultType]::ParameterValue, 'Free a port: signal the processes that hold it, safely, and check that it is free')
            [CompletionResult]::new('close', 'close', [CompletionResultType]::ParameterValue, 'Destroy the sockets on a port in the kernel, leaving their processes running')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait until a port is up (listening) or free, then optionally run a command')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'portscope;help;list' {
            break
        }
        'portscope;help;who' {
            break
        }
        'portscope;help;verify' {
            break
        }
        'portscope;help;listen' {
            break
        }
        'portscope;help;why' {
            break
        }
        'portscope;help;export' {
            break
        }
        'portscope;help;watch' {
            break
        }
        'portscope;help;diff' {
            break
        }
        'portscope;help;kill' {
            break
        }
        'portscope;help;close' {
            break
        }
        'portscope;help;wait' {
            break
        }
        'portscope;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
