# A minimal Debian testing root with Python >= 3.14.2, for machines that have no such
# Python (Debian 12 ships 3.11). Sourced by _common.sh; do not run it.
#
# The root lives in build/debian-testing (made once, about two minutes, then reused).
# Commands run in it through a private mount namespace: /proc, a /dev of its own (a
# tmpfs with its own device nodes, never a bind of the host's), /dev/shm and the
# checkout bind-mounted at the same path. The namespace dies with the command, so
# nothing stays mounted, whatever way the command ends. The network namespace is the
# host's: the project's traffic stays on loopback as everywhere else.

TESTING_ROOT="${TASMOTA_TLS_TESTING_ROOT:-$REPO_ROOT/build/debian-testing}"
# Debian's testing suite (forky); debootstrap on Debian 12 builds it with the sid script.
TESTING_SUITE="forky"
TESTING_MIRROR="http://deb.debian.org/debian"
# What the root needs before the project's own scripts/setup runs inside it.
TESTING_BASE_PACKAGES="python3,python3-venv,python3-dev,ca-certificates,gcc,libc6-dev,procps"

_root_log() { echo "testing-root: $*" >&2; }

_root_sudo() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Build the root if it is not there yet. A half-built root (interrupted, failed) lives
# under a temporary name and is thrown away on the next try.
ensure_testing_root() {
    [ -x "$TESTING_ROOT/usr/bin/python3" ] && [ -f "$TESTING_ROOT/.tasmota-tls-root" ] && return 0
    if ! command -v debootstrap >/dev/null 2>&1; then
        _root_log "installing debootstrap"
        _root_sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive _root_sudo apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    local partial="$TESTING_ROOT.partial"
    _root_sudo rm -rf "$partial"
    mkdir -p "$(dirname "$TESTING_ROOT")"
    _root_log "building a Debian $TESTING_SUITE root with Python 3.14 in $TESTING_ROOT (once, about two minutes)"
    # debootstrap mounts /proc and /sys in the target; its own mount namespace takes
    # them away even when it fails half way.
    if ! _root_sudo unshare --mount --propagation private \
        debootstrap --variant=minbase --include="$TESTING_BASE_PACKAGES" \
        "$TESTING_SUITE" "$partial" "$TESTING_MIRROR" /usr/share/debootstrap/scripts/sid \
        >"$partial.log" 2>&1; then
        _root_log "debootstrap failed; the end of its log:"
        tail -n 20 "$partial.log" >&2
        return 1
    fi
    # Testing's Release file may be past its Valid-Until date.
    echo 'Acquire::Check-Valid-Until "false";' >"$partial/etc/apt/apt.conf.d/99tasmota-tls"
    # The host's extra certificate authorities (proxies, mirrors) for pip and apt inside.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$partial/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$partial/usr/local/share/ca-certificates/"
        _root_sudo chroot "$partial" /usr/sbin/update-ca-certificates >/dev/null 2>&1
    fi
    touch "$partial/.tasmota-tls-root"
    rm -f "$partial.log"
    _root_sudo mv "$partial" "$TESTING_ROOT"
}

# Run "$@" inside the root, in the checkout, with a clean environment that keeps only
# what the project's commands read.
run_in_testing_root() {
    ensure_testing_root
    local keep=() name
    for name in $(compgen -e); do
        case "$name" in
            TASMOTA_TLS_*|PYTEST_*|CI|TERM|COLUMNS|LINES|NO_COLOR|FORCE_COLOR) keep+=("$name=${!name}") ;;
        esac
    done
    cp /etc/resolv.conf "$TESTING_ROOT/etc/resolv.conf" 2>/dev/null || true
    cp /etc/hosts "$TESTING_ROOT/etc/hosts" 2>/dev/null || true
    mkdir -p "$TESTING_ROOT$REPO_ROOT"
    local bundle=/etc/ssl/certs/ca-certificates.crt
    # shellcheck disable=SC2016 # expanded by the inner shell, inside the namespace
    _root_sudo unshare --mount --propagation private /bin/bash -c '
        set -e
        root="$1" repo="$2"; shift 2
        mount -t proc proc "$root/proc"
        mount -t tmpfs -o mode=755,size=16m dev "$root/dev"
        mknod -m 666 "$root/dev/null" c 1 3
        mknod -m 666 "$root/dev/zero" c 1 5
        mknod -m 666 "$root/dev/full" c 1 7
        mknod -m 666 "$root/dev/random" c 1 8
        mknod -m 666 "$root/dev/urandom" c 1 9
        mknod -m 666 "$root/dev/tty" c 5 0
        ln -s /proc/self/fd "$root/dev/fd"
        ln -s /proc/self/fd/0 "$root/dev/stdin"
        ln -s /proc/self/fd/1 "$root/dev/stdout"
        ln -s /proc/self/fd/2 "$root/dev/stderr"
        mkdir -p "$root/dev/shm" "$root/dev/pts"
        mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
        mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
        ln -s pts/ptmx "$root/dev/ptmx"
        mount -t sysfs sysfs "$root/sys" 2>/dev/null || mount --rbind -o ro /sys "$root/sys"
        mount --bind "$repo" "$root$repo"
        exec chroot "$root" "$@"
    ' run-in-root "$TESTING_ROOT" "$REPO_ROOT" \
        /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TASMOTA_TLS_IN_TESTING_ROOT=1 \
        SSL_CERT_FILE="$bundle" PIP_CERT="$bundle" REQUESTS_CA_BUNDLE="$bundle" \
        PIP_DISABLE_PIP_VERSION_CHECK=1 "${keep[@]}" \
        /bin/bash -c 'cd "$1" && shift && exec "$@"' in-checkout "$REPO_ROOT" "$@"
}
