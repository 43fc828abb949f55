#!/usr/bin/env bash
# CI: builds the Debian package with cargo-deb, installs it with dpkg, checks what an admin
# relies on (binary in /usr/bin, man pages, bash completion, lintian without errors), then
# removes it. Runs as root on a clean Debian 12 machine, without a terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive CARGO_TERM_COLOR=never

step() { printf '== %s (%ss)\n' "$1" "$SECONDS"; }

# lintian brings dpkg-dev (dpkg-shlibdeps, for the package's libc dependency) and binutils
# (strip); man-db provides man -w.
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v man >/dev/null || need+=(man-db)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
# The package recommends bash-completion; dpkg -i does not install recommends.
[[ -f /usr/share/bash-completion/bash_completion ]] || need+=(bash-completion)
command -v promtool >/dev/null || need+=(prometheus)
if ((${#need[@]})); then
    step "apt-get install ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
    step "cargo install cargo-deb"
    cargo install cargo-deb --locked --quiet
fi

step "cargo deb"
rm -f target/debian/portscope_*.deb
cargo deb
debs=(target/debian/portscope_*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || { echo "expected one package, got: ${debs[*]}" >&2; exit 1; }
deb=${debs[0]}
version=$(dpkg-deb -f "$deb" Version)

# A package of this name installed before the run (not ours) is left alone: stop.
if dpkg-query -W -f='${Status}' portscope 2>/dev/null | grep -q 'install ok installed'; then
    echo "portscope is already installed here; not replacing it" >&2
    exit 1
fi
cleanup() { dpkg -r portscope >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "dpkg -i $deb"
dpkg -i "$deb"

step "checks"
fail() { echo "deb check failed: $*" >&2; exit 1; }
got=$(/usr/bin/portscope --version)
[[ $got == "portscope ${version%-*}" ]] || fail "/usr/bin/portscope --version said '$got'"
# Every page in man/ is in the package; man finds each where dpkg put it. A minimal image
# whose dpkg config excludes /usr/share/man drops them at install: then look in the
# package's own tree (dpkg -x), as the man pages an admin gets elsewhere.
mandir=/usr/share/man
if grep -qs '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
    root=$(mktemp -d)
    trap 'cleanup; rm -rf "$root"' EXIT
    dpkg -x "$deb" "$root"
    mandir=$root/usr/share/man
fi
for f in man/*.1; do
    page=$(basename "$f" .1)
    path=$(man -M "$mandir" -w "$page") || fail "man -w $page"
    [[ $path == "$mandir/man1/$page.1.gz" ]] || fail "man -w $page gave $path"
done
[[ -s /usr/share/bash-completion/completions/portscope ]] || fail "no bash completion"
dpkg-deb -f "$deb" Recommends | grep -qw bash-completion || fail "Recommends: bash-completion missing"
# Completion works in a login shell, as a user gets it: bash-completion loads ours on
# demand, and it completes subcommands.
comp=$(bash -lic '_completion_loader portscope >/dev/null 2>&1
    complete -p portscope
    f=$(complete -p portscope | sed -n "s/.*-F \([^ ]*\).*/\1/p")
    COMP_WORDS=(portscope wh); COMP_CWORD=1; COMP_LINE="portscope wh"; COMP_POINT=${#COMP_LINE}
    "$f" portscope wh portscope
    printf "reply:%s\n" "${COMPREPLY[@]}"' 2>/dev/null) || fail "bash -lic: $comp"
grep -q '^complete .* portscope$' <<<"$comp" || fail "no completion for portscope in a login shell: $comp"
grep -qx 'reply:who' <<<"$comp" || fail "portscope wh<TAB> did not complete to who: $comp"
# The textfile timer and the Prometheus rules ship, and the rules are valid.
for u in portscope-textfile.service portscope-textfile.timer; do
    [[ -s /lib/systemd/system/$u ]] || fail "no $u"
done
grep -qx 'OnUnitActiveSec=60s' /lib/systemd/system/portscope-textfile.timer || fail "timer period"
rules=/usr/share/portscope/prometheus/portscope.rules.yml
promtool check rules "$rules" || fail "promtool check rules $rules"
[[ -s /usr/share/zsh/vendor-completions/_portscope ]] || fail "no zsh completion"
[[ -s /usr/share/fish/vendor_completions.d/portscope.fish ]] || fail "no fish completion"
/usr/bin/portscope export prometheus -o - >/dev/null || fail "installed portscope export"

step "lintian"
# Errors fail the run; warnings and info are printed, and allowed.
lintian --fail-on error --info "$deb" || fail "lintian reported errors"

step "dpkg -r portscope"
trap - EXIT
dpkg -r portscope
! dpkg-query -W -f='${Status}' portscope 2>/dev/null | grep -q 'install ok installed' \
    || fail "still installed after dpkg -r"
[[ ! -e /usr/bin/portscope ]] || fail "/usr/bin/portscope left behind"
step "done"
