#!/usr/bin/env bash
# tools/fetch_gpu_deps.sh: download the build's dependencies from Debian into .deps/, so the
# working tree builds on a machine with no internet and no Debian -dev packages (the lent
# GPU machine, see tools/gpu_check.sh). Run it here, on a Debian machine with network.
#
# Usage: tools/fetch_gpu_deps.sh [--force]     (--force: download again)
#
# What lands in .deps/ (about 5 MiB; the folder is git-ignored, carry it along explicitly):
#   usr/include/{CLI,nlohmann,stb}   header-only CLI11, nlohmann-json, stb   (binary .debs)
#   usr/include/xxhash.h             xxHash, used header-only (the checkpoints' checksums)
#   usr/share/cmake/...              their CMake package files (find_package works with
#                                    CMAKE_PREFIX_PATH=.deps/usr)
#   usr/src/googletest               GoogleTest sources (Debian's `googletest` package); CMake
#                                    builds them when find_package(GTest) finds nothing
#   usr/src/benchmark                Google Benchmark sources with Debian's patches (the
#                                    `benchmark` source package); tools/gpu_check.sh builds them.
#                                    Debian ships Benchmark only as a shared library built
#                                    against Debian's glibc and libstdc++, which another
#                                    distribution's toolchain may not link or load, so the
#                                    sources travel instead of the binary.
# Packages are fetched with apt (signatures checked) and unpacked with dpkg-deb/dpkg-source;
# nothing is installed. A second run with the same package versions does nothing.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

binary_pkgs=(googletest libcli11-dev nlohmann-json3-dev libstb-dev libxxhash-dev)
source_pkg=benchmark      # the source package behind libbenchmark-dev

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) nn_die "unknown argument '$1' (usage: tools/fetch_gpu_deps.sh [--force])" ;;
esac

for tool in apt-get apt-cache dpkg-deb dpkg-source; do
  command -v "$tool" >/dev/null 2>&1 ||
    nn_die "$tool not found: run this on a Debian/Ubuntu machine (dpkg-source is in dpkg-dev)"
done

# candidates: "package version" for each package, from one apt-cache call.
candidates() { apt-cache policy "$@" 2>/dev/null | awk '/^[^ ]/ {p = $1; sub(/:$/, "", p)} /Candidate:/ {print p, $2}'; }

all_pkgs=("${binary_pkgs[@]}" libbenchmark-dev)
if ! candidates googletest | grep -qv '(none)'; then
  [[ "$(id -u)" -eq 0 ]] || nn_die "apt knows no package lists yet: run 'sudo apt-get update' first"
  apt-get update -qq
fi

# The stamp records what .deps holds; the same versions again means nothing to do.
want="$(candidates "${all_pkgs[@]}")"
for pkg in "${all_pkgs[@]}"; do
  grep -q "^$pkg [^(]" <<<"$want" || nn_die "apt has no candidate for $pkg"
done
stamp="$NN_DEPS_DIR/.stamp"
if [[ $force -eq 0 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  nn_log "$NN_DEPS_DIR is up to date ($(du -sh "$NN_DEPS_DIR" | cut -f1))"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs" "$tmp/src" "$tmp/stage" "$tmp/apt/lists/partial" "$tmp/apt/parts"

nn_log "downloading ${binary_pkgs[*]}"
(cd "$tmp/debs" && apt-get download -qq "${binary_pkgs[@]}" >"$tmp/apt.log" 2>&1) ||
  { tail -n 5 "$tmp/apt.log" >&2; nn_die "apt-get download ${binary_pkgs[*]} failed"; }
for deb in "$tmp"/debs/*.deb; do
  dpkg-deb -x "$deb" "$tmp/stage"
done

# Source package: a private apt configuration that turns this machine's `deb` entries into
# `deb-src` ones (same mirrors, same signing keys), with its own package lists in $tmp.
nn_log "downloading the $source_pkg source package"
: >"$tmp/apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  if [[ -f "$f" ]]; then sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$tmp/apt/sources.list"; fi
done
for f in /etc/apt/sources.list.d/*.sources; do
  if [[ -f "$f" ]]; then sed 's/^Types:.*/Types: deb-src/' "$f" >"$tmp/apt/parts/$(basename "$f")"; fi
done
apt_src=(-o "Dir::Etc::SourceList=$tmp/apt/sources.list" -o "Dir::Etc::SourceParts=$tmp/apt/parts"
         -o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::Cache=$tmp/apt/cache")
mkdir -p "$tmp/apt/cache/archives/partial"
apt-get -qq "${apt_src[@]}" update >"$tmp/apt.log" 2>&1 || { tail -n 5 "$tmp/apt.log" >&2; nn_die "apt-get update for deb-src entries failed"; }
bench_version="$(awk '$1 == "libbenchmark-dev" {print $2}' <<<"$want")"
(cd "$tmp/src" && apt-get -qq "${apt_src[@]}" source --download-only "$source_pkg=$bench_version" >"$tmp/apt.log" 2>&1) ||
  { tail -n 5 "$tmp/apt.log" >&2; nn_die "apt-get source $source_pkg=$bench_version failed"; }
# apt checked the files against the signed Sources index; dpkg-source applies Debian's patches
# (one of them stops Benchmark's CMake from asking git for its version).
(cd "$tmp/src" && dpkg-source --no-check -x ./*.dsc benchmark >/dev/null)
rm -rf "$tmp/src/benchmark/debian" "$tmp/src/benchmark/test" "$tmp/src/benchmark/docs" \
       "$tmp/src/benchmark/bindings" "$tmp/src/benchmark/.github"
mkdir -p "$tmp/stage/usr/src"
mv "$tmp/src/benchmark" "$tmp/stage/usr/src/benchmark"

# Keep what a build reads; drop docs, GoogleTest's own tests and stb's prebuilt library.
rm -rf "$tmp/stage/usr/share/doc" "$tmp/stage/usr/lib" \
       "$tmp/stage/usr/src/googletest/googletest/test" "$tmp/stage/usr/src/googletest/googlemock/test" \
       "$tmp/stage/usr/src/googletest/docs"
printf '%s\n' "$want" >"$tmp/stage/.stamp"

rm -rf "$NN_DEPS_DIR"
mkdir -p "$(dirname "$NN_DEPS_DIR")"
mv "$tmp/stage" "$NN_DEPS_DIR"
nn_log "unpacked into $NN_DEPS_DIR ($(du -sh "$NN_DEPS_DIR" | cut -f1)): bring it along to the GPU machine"
