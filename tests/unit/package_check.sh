#!/usr/bin/env bash
# The .deb that `cpack -G DEB` builds, checked with the real tools: its file
# list (dpkg-deb -c), its dependencies (dpkg-deb -f), the binaries run from a
# scratch root they were unpacked into, the systemd unit verified by
# systemd-analyze against that root, and the bash completion sourced by bash.
#   package_check.sh BUILD_DIR
set -euo pipefail
build=$(realpath "$1")
tmp=$(mktemp -d /tmp/sfc-pkg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB failed"; }
deb=$(ls "$tmp"/out/sfc_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || fail "no sfc_*.deb in $tmp/out"
echo "package: $(basename "$deb")"

contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/sfcd ./usr/bin/sfcctl ./usr/lib/systemd/system/sfcd.service \
         ./usr/share/bash-completion/completions/sfcctl ./usr/share/doc/sfc/README.md \
         ./usr/share/doc/sfc/docs/deployment.md ./usr/share/sfc/chains/schema.json \
         ./usr/share/sfc/chains/demo.json ./usr/lib/python3/dist-packages/sfc/v1/chain_pb2.py \
         ./usr/lib/python3/dist-packages/sfc/v1/chain_pb2_grpc.py \
         ./usr/lib/python3/dist-packages/sfc_orchestrator/client.py; do
  grep -q " $f\$" <<<"$contents" || fail "$f is not in the package"
done
grep -q " ./usr/sbin/sfcd\$" <<<"$(grep '^-rwxr-xr-x' <<<"$contents")" || fail "sfcd is not executable"

depends=$(dpkg-deb -f "$deb" Depends)
for lib in libbpf libxdp libgrpc++ libprotobuf; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done

root="$tmp/root"
dpkg-deb -x "$deb" "$root"
want=$(grep -o '^#define SFC_VERSION "[^"]*"' "$build/generated/sfc_version.h" | cut -d'"' -f2)
"$root/usr/sbin/sfcd" --version | grep -q "^sfcd $want (commit " || fail "sfcd --version: $("$root/usr/sbin/sfcd" --version)"
"$root/usr/bin/sfcctl" version --client | grep -q "^client: sfcctl $want " || fail "sfcctl version --client"
# The Python client imports from where the package put it, with Debian's grpcio.
PYTHONPATH="$root/usr/lib/python3/dist-packages" /usr/bin/python3 -m sfc_orchestrator --help >/dev/null ||
  fail "python3 -m sfc_orchestrator from the package"

# systemd-analyze resolves the unit's dependencies inside --root: give it the
# host's units beside the package's.
mkdir -p "$root/lib/systemd/system"
cp -rn /usr/lib/systemd/system/. "$root/lib/systemd/system/"
if ! out=$(systemd-analyze verify --man=no --root="$root" sfcd.service 2>&1) || [ -n "$out" ]; then
  fail "systemd-analyze verify sfcd.service: $out"
fi

# The completion, with a stand-in sfcctl answering the two queries it makes.
completions=$(bash -c '
  sfcctl() {
    case "$*" in
    "get chains") printf "NAME  GENERATION\nweb   3\nedge  1\n" ;;
    "describe chain web") printf "chain web\n  SLOT  NAME  TYPE  PROG_ID  PINS\n  0  fw  firewall  7  /x\n  1  lb  loadbalancer  8  /y\n" ;;
    esac
  }
  source "$1"
  complete_at() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _sfcctl; echo "${COMPREPLY[*]}"; }
  complete_at sfcctl f
  complete_at sfcctl describe chain ""
  complete_at sfcctl fw add-rule web ""
  complete_at sfcctl -o json lb drain web ""
' _ "$root/usr/share/bash-completion/completions/sfcctl")
expected=$'flows fw\nweb edge\nfw\nlb'
[ "$completions" = "$expected" ] || fail "completions: got [$completions], want [$expected]"
echo "ok: contents, Depends, --version, systemd-analyze verify, completion"
