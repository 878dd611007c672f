#!/usr/bin/env bash
# Proves the README's two commands on a bare Debian 12: builds a clean root with mmdebstrap
# (variant apt: apt and the essential packages, nothing else), copies a clean clone of HEAD into
# it, and runs the two commands from the README's first sh block inside it with chroot.
# Prints each step with its time, then PASS, or FAIL with the first error line.
#
# Usage (as root): scripts/check_fresh_machine.sh [--demo-epochs N] [--keep] [--refresh-root]
#   --demo-epochs N  shorten the demo to N epochs (default 3); the test command always runs whole
#   --keep           leave the root on disk after the check (its path is printed)
#   --refresh-root   build the bare root anew instead of reusing the cached tarball
# Environment:
#   HSANET_FRESH_CACHE  where the bare root's tarball and the downloaded .debs are kept between
#                       runs, so a rerun costs only the build (default ~/.cache/hsanet-fresh)
#   TMPDIR              where the root is unpacked (about 3 GB while it runs)
set -euo pipefail

demo_epochs=3
keep=0
refresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --demo-epochs) demo_epochs="${2:?--demo-epochs needs a number}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --refresh-root) refresh=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check_fresh_machine: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$demo_epochs" in ''|*[!0-9]*) echo "check_fresh_machine: --demo-epochs needs a positive integer" >&2; exit 2 ;; esac
if [ "$(id -u)" -ne 0 ]; then
  echo "check_fresh_machine: needs root (mmdebstrap and chroot)" >&2
  exit 2
fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${HSANET_FRESH_CACHE:-$HOME/.cache/hsanet-fresh}"
tarball="$cache/debian12-apt.tar"
debs="$cache/debs"
work="$(mktemp -d "${TMPDIR:-/tmp}/hsanet-fresh.XXXXXX")"
root="$work/root"
logs="$work/logs"
mkdir -p "$cache" "$debs" "$root" "$logs"

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ "$keep" -eq 1 ]; then
    echo "check_fresh_machine: root kept in $root"
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT

# The README's two commands, as committed at HEAD (what the clone will hold): the non-empty lines
# of its first ```sh block, in order.
mapfile -t commands < <(git -C "$repo" show HEAD:README.md |
                        awk '/^```sh$/ {inside = 1; next} inside && /^```/ {exit} inside && NF')
if [ ${#commands[@]} -ne 2 ]; then
  echo "FAIL: README.md's first sh block holds ${#commands[@]} commands, not 2"
  exit 1
fi
demo="$(printf '%s' "${commands[0]}" | sed -E "s/--epochs [0-9]+/--epochs $demo_epochs/")"
tests="${commands[1]}"

fail() {  # fail STEP LOG: the first error line of the step's log, else its last line
  local line
  line="$(grep -m1 -E '(^|[^a-z])(error|Error|ERROR|FAILED|Failed|fatal|No such file|not found)' "$2" || true)"
  [ -n "$line" ] || line="$(tail -n 1 "$2")"
  echo "FAIL: $1: $line"
  rm -rf "$cache/last-failure-logs"
  cp -r "$logs" "$cache/last-failure-logs"
  echo "      (every step's log is in $cache/last-failure-logs; --keep keeps the root too)"
  exit 1
}

step() {  # step NAME COMMAND...: runs it with its output in a log, prints the time
  local name="$1" log="$logs/$(echo "$1" | tr -c 'a-zA-Z0-9\n' '_').log" start end
  shift
  printf '%-58s ' "$name"
  start=$(date +%s)
  if "$@" </dev/null >"$log" 2>&1; then
    end=$(date +%s)
    printf '%4d s\n' $((end - start))
  else
    end=$(date +%s)
    printf '%4d s  failed\n' $((end - start))
    fail "$name" "$log"
  fi
}

install_mmdebstrap() {
  command -v mmdebstrap >/dev/null && return 0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap
}

# The machine's own Debian apt sources (deb822 or one-line files), pasted into the new root.
host_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -qE '^[[:space:]]*(deb|URIs:)' "$f" && echo "$f"
  done
  return 0
}

make_root_tarball() {
  mapfile -t sources < <(host_sources)
  [ ${#sources[@]} -gt 0 ] || { echo "no apt sources found under /etc/apt"; return 1; }
  rm -f "$tarball.part"
  mmdebstrap --variant=apt --format=tar bookworm "$tarball.part" "${sources[@]}"
  mv "$tarball.part" "$tarball"
}

unpack_root() {
  tar -C "$root" -xf "$tarball"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc" && mounted+=("$root/proc")
  mount -t tmpfs tmpfs "$root/dev/shm" && mounted+=("$root/dev/shm")   # Open MPI's shared memory
  mount --bind "$debs" "$root/var/cache/apt/archives" && mounted+=("$root/var/cache/apt/archives")
  # Keep downloaded packages for the next run (the root's apt would otherwise delete them).
  rm -f "$root/etc/apt/apt.conf.d/docker-clean"
  echo 'APT::Keep-Downloaded-Packages "true";' >"$root/etc/apt/apt.conf.d/99keep-debs"
}

clone_head() {
  git clone -q --no-local "$repo" "$root/root/hsanet"
  git -C "$root/root/hsanet" log -1 --format='HEAD %h %s'
}

in_root() {  # in_root COMMAND: runs a shell command in the clone, as a login root would
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /root/hsanet && $1"
}

echo "check_fresh_machine: a bare Debian 12 root, then the README's two commands"
echo "  demo:  $demo"
echo "  tests: $tests"
total_start=$(date +%s)
step "install mmdebstrap (if missing)" install_mmdebstrap
if [ "$refresh" -eq 1 ] || [ ! -s "$tarball" ]; then
  step "bare Debian 12 root (mmdebstrap, cached)" make_root_tarball
else
  echo "bare Debian 12 root: reusing $tarball"
fi
step "unpack the root, mount /proc" unpack_root
step "clean clone of HEAD" clone_head
# Command 1 is a chain of `a && b && c`: each link is timed as its own step (the same semantics,
# since a failing link stops the chain either way).
mapfile -t links < <(printf '%s\n' "$demo" | sed 's/ && /\n/g')
demo_log=""
for i in "${!links[@]}"; do
  name="README command 1, part $((i + 1)): ${links[$i]%% *}"
  step "$name" in_root "${links[$i]}"
  demo_log="$logs/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '_').log"
done
step "README command 2: $tests" in_root "$tests"
tests_log="$logs/$(echo "README command 2: $tests" | tr -c 'a-zA-Z0-9\n' '_').log"
echo "demo's last lines:"
grep -E 'validation accuracy over|^wrote ' "$demo_log" | sed 's/^/  | /'
grep -E 'tests passed|tests failed' "$tests_log" | sed 's/^/  | /' || true
echo "total $(( $(date +%s) - total_start )) s"
echo PASS
