#!/usr/bin/env bash
# The Debian packages, checked without root: cpack -G DEB from a built tree, then
#
#   - each package holds what it should (runtime: liburingrpc.so.0*, uringrpc-server, man page,
#     shlibs; dev: headers, .a, the .so link, uringrpc.pc, the CMake package);
#   - uringrpc's Depends (dpkg-shlibdeps) names the package of every library the .so and the
#     server need (readelf NEEDED -> ldd path -> dpkg -S), uringrpc-dev's names uringrpc of the
#     same version and only packages this machine knows;
#   - examples/out-of-tree builds with CMake against the packages' files unpacked into a
#     directory (dpkg-deb -x), and with pkg-config --define-prefix, and serves and answers as
#     tests/packaging/check_example.py expects.
#
# What this cannot see (apt resolving the Depends on a clean system, files at /usr) is what
# tests/packaging/deb-test.sh checks, as root with podman.
#
#   tests/packaging/deb_check.sh BUILD_DIR SOURCE_DIR
#
# Exit 0 pass, 1 fail, 77 skip (not Debian: no dpkg-deb or dpkg-shlibdeps).
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
PY=/usr/bin/python3
for tool in cpack dpkg-deb dpkg-shlibdeps dpkg-query readelf pkg-config; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (not a Debian system?)"; exit 77; }
done
tmp=$(mktemp -d /tmp/urpc-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
t0=$SECONDS
fail() { echo "FAIL: $*"; exit 1; }

if ! cpack --config "$build/CPackConfig.cmake" -B "$tmp/deb" -G DEB >"$tmp/cpack.log" 2>&1; then
  cat "$tmp/cpack.log"
  fail "cpack -G DEB"
fi
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
runtime=$(ls "$tmp"/deb/uringrpc_*.deb)
dev=$(ls "$tmp"/deb/uringrpc-dev_*.deb)
echo "built $(basename "$runtime") and $(basename "$dev") in $((SECONDS - t0)) s"

# ---- contents ---------------------------------------------------------------------------
# Listings are taken whole before grep reads them: `producer | grep -q` under pipefail fails
# when grep stops at its first match and the producer gets SIGPIPE.
files_of() { dpkg-deb -c "$1" | awk '{print $6}'; }
runtime_files=$(files_of "$runtime")
dev_files=$(files_of "$dev")
has() { # has DEB REGEX WHAT
  local files=$runtime_files
  [ "$1" = "$runtime" ] || files=$dev_files
  grep -Eq "$2" <<<"$files" || fail "$(basename "$1") has no $3"
}
has "$runtime" '^\./usr/lib/(.*/)?liburingrpc\.so\.0$' "liburingrpc.so.0"
has "$runtime" '^\./usr/lib/(.*/)?liburingrpc\.so\.'"$version"'$' "liburingrpc.so.$version"
has "$runtime" '^\./usr/bin/uringrpc-server$' "uringrpc-server"
has "$runtime" '^\./usr/share/man/man1/uringrpc-server\.1\.gz$' "man page"
for f in uringrpc.h urpc_metrics.h urpc_admin.h; do
  has "$dev" "^\./usr/include/$f\$" "$f"
done
has "$dev" '^\./usr/lib/(.*/)?liburingrpc\.a$' "liburingrpc.a"
has "$dev" '^\./usr/lib/(.*/)?liburingrpc\.so$' "liburingrpc.so link"
has "$dev" '^\./usr/lib/(.*/)?pkgconfig/uringrpc\.pc$' "uringrpc.pc"
for f in uringrpcConfig uringrpcConfigVersion uringrpcTargets uringrpcStaticTargets \
         uringrpcProtos; do
  has "$dev" "^\./usr/lib/(.*/)?cmake/uringrpc/$f\.cmake\$" "$f.cmake"
done
if grep -Eq '\.(a|h|pc)$|/cmake/' <<<"$runtime_files"; then
  fail "development files in the runtime package"
fi
control=$(dpkg-deb --ctrl-tarfile "$runtime" | tar t)
grep -q shlibs <<<"$control" || fail "uringrpc has no shlibs file"
echo "contents: runtime $(dpkg-deb -c "$runtime" | grep -vc '/$') files, dev $(dpkg-deb -c "$dev" | grep -vc '/$') files"

# ---- Depends ----------------------------------------------------------------------------
rdeps=$(dpkg-deb -f "$runtime" Depends)
ddeps=$(dpkg-deb -f "$dev" Depends)
echo "uringrpc Depends: $rdeps"
echo "uringrpc-dev Depends: $ddeps"
names() { tr ',' '\n' <<<"$1" | sed 's/^ *//; s/[ (].*//' | sort -u; }
dpkg-deb -x "$runtime" "$tmp/root"
dpkg-deb -x "$dev" "$tmp/root"
for elf in "$tmp"/root/usr/lib/*liburingrpc.so."$version" "$tmp"/root/usr/lib/*/liburingrpc.so."$version" \
           "$tmp/root/usr/bin/uringrpc-server"; do
  [ -e "$elf" ] || continue
  for needed in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(ldd "$elf" | awk -v n="$needed" '$1 == n {print $3}')
    case $needed in ld-linux*) continue ;; esac # the dynamic loader comes with libc6
    [ -n "$path" ] || fail "$(basename "$elf") needs $needed, which ldd does not find"
    pkg=$(dpkg-query -S "$path" 2>/dev/null || dpkg-query -S "$(readlink -f "$path")" 2>/dev/null) ||
      fail "no Debian package holds $path ($needed)"
    pkg=${pkg%%:*}
    names "$rdeps" | grep -qx "$pkg" ||
      fail "$(basename "$elf") needs $needed ($pkg), which uringrpc's Depends lacks"
  done
done
names "$ddeps" | grep -qx uringrpc || fail "uringrpc-dev does not depend on uringrpc"
grep -q "uringrpc (= $version-" <<<"$ddeps" || fail "uringrpc-dev's uringrpc dependency is not '= $version-…'"
for p in $(names "$ddeps"); do
  [ "$p" = uringrpc ] && continue
  dpkg-query -W "$p" >/dev/null 2>&1 || fail "uringrpc-dev depends on $p, which dpkg does not know"
done
echo "Depends cover every NEEDED library; the dev package's are known packages"

# ---- build against the unpacked packages -------------------------------------------------
"$tmp/root/usr/bin/uringrpc-server" --version >/dev/null || fail "the packaged uringrpc-server does not run"
example=$src/examples/out-of-tree
if ! { cmake -S "$example" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$tmp/root/usr" &&
       cmake --build "$tmp/ex"; } >"$tmp/ex.log" 2>&1; then
  cat "$tmp/ex.log"
  fail "examples/out-of-tree against the unpacked packages (CMake)"
fi
lib=$(ldd "$tmp/ex/orders-server" | awk '/liburingrpc/ {print $3}')
case $lib in "$tmp/root/"*) ;; *) fail "orders-server took liburingrpc from '$lib', not the package" ;; esac
pcdir=$(dirname "$(find "$tmp/root" -name uringrpc.pc)")
pcflags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-prefix --cflags --libs uringrpc)
case $pcflags in *"$tmp/root/usr"*) ;; *) fail "pkg-config --define-prefix gave '$pcflags'" ;; esac
"$PY" -B "$src/tests/packaging/check_example.py" --server "$tmp/ex/orders-server" \
  --example-dir "$example" --proto-dir "$src/proto"
echo "PASS: Debian packages ($((SECONDS - t0)) s)"
