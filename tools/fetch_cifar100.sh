#!/usr/bin/env bash
# tools/fetch_cifar100.sh: put the CIFAR-100 binary dataset under data/cifar-100-binary/
# (train.bin, test.bin, coarse_label_names.txt, fine_label_names.txt), checking md5 sums.
#
# Usage: tools/fetch_cifar100.sh        (tools/test.sh and tools/train.sh call it when needed)
#
# Where the archive comes from, first match wins:
#   1. $CIFAR100_ARCHIVE, when set (CI points it at a local copy). The network is never tried,
#      even when that file is missing or bad.
#   2. data/cifar-100-binary.tar.gz, when present (a previous download, or one you put there).
#   3. A download of the official archive (curl or wget) into data/cifar-100-binary.tar.gz,
#      whose md5 must match the published one. A local archive may be a repack with other
#      bytes, so only a downloaded archive's own md5 is checked.
# train.bin and test.bin are always checked against their known md5 sums.
#
# Nothing half-written is ever left under the real names: the download goes to a .part file
# renamed when complete and checked, and the archive is unpacked into a temporary folder beside
# data/cifar-100-binary/ whose checked contents then replace it by rename. On any failure the
# script prints one line and exits non-zero. With the data already there and intact it prints
# one line and exits 0 without touching anything.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

readonly URL="https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
readonly ARCHIVE_MD5="03b5dce01913d631647c71ecec9e9cb8"
readonly TRAIN_MD5="6172c7755cfe09b2fe270c85cebc1b15"
readonly TEST_MD5="4499cfba6c016c1be1438163640a0898"
readonly DEST="data/cifar-100-binary"
readonly DEFAULT_ARCHIVE="data/cifar-100-binary.tar.gz"
# The archive's one folder, and the members we take from it.
readonly INNER="cifar-100-binary"
readonly MEMBERS=(train.bin test.bin coarse_label_names.txt fine_label_names.txt)

command -v md5sum >/dev/null 2>&1 || nn_die "md5sum is needed (Debian package coreutils)"

# md5_of FILE: the file's md5 as 32 hex digits.
md5_of() {
  local sum _
  read -r sum _ < <(md5sum "$1")
  echo "$sum"
}

# first_line FILE: the first non-empty line of FILE (tools' error output starts with blank lines).
first_line() { grep -m 1 . "$1" || true; }

# dataset_ok DIR: true when DIR holds train.bin and test.bin with the right md5 sums.
dataset_ok() {
  [[ -f "$1/train.bin" && -f "$1/test.bin" ]] &&
    [[ "$(md5_of "$1/train.bin")" == "$TRAIN_MD5" && "$(md5_of "$1/test.bin")" == "$TEST_MD5" ]]
}

if dataset_ok "$DEST"; then
  nn_log "CIFAR-100 already in $DEST (md5 sums match); nothing to do"
  exit 0
fi

mkdir -p data
# Everything temporary lives in one folder inside data/, so the final renames stay on one
# file system (and are therefore atomic); it goes away however the script ends.
work="$(mktemp -d data/.fetch_cifar100.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# download ARCHIVE: the official archive into ARCHIVE, renamed into place only once its md5
# matches, so an interrupted or corrupted download never poses as a good local archive.
download() {
  local target="$1" part="$work/download.part" err="$work/download.err"
  nn_log "downloading $URL (about 161 MB)"
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --retry 3 --output "$part" "$URL" 2>"$err" ||
      nn_die "download of $URL failed: $(first_line "$err")"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=3 --output-document="$part" "$URL" 2>"$err" ||
      nn_die "download of $URL failed (wget exit $?)"
  else
    nn_die "neither curl nor wget is installed: download $URL yourself into $target, or set CIFAR100_ARCHIVE"
  fi
  local got
  got="$(md5_of "$part")"
  [[ "$got" == "$ARCHIVE_MD5" ]] ||
    nn_die "downloaded archive has md5 $got, expected $ARCHIVE_MD5 (a broken download?); try again"
  mv -f "$part" "$target"
}

if [[ -n "${CIFAR100_ARCHIVE:-}" ]]; then
  archive="$CIFAR100_ARCHIVE"
  [[ -f "$archive" ]] || nn_die "CIFAR100_ARCHIVE=$archive does not exist (unset it to use $DEFAULT_ARCHIVE or download)"
elif [[ -f "$DEFAULT_ARCHIVE" ]]; then
  archive="$DEFAULT_ARCHIVE"
else
  download "$DEFAULT_ARCHIVE"
  archive="$DEFAULT_ARCHIVE"
fi

nn_log "unpacking $archive into $DEST"
members=()
for m in "${MEMBERS[@]}"; do members+=("$INNER/$m"); done
tar -xzf "$archive" -C "$work" "${members[@]}" 2>"$work/tar.err" ||
  nn_die "cannot unpack $archive ($(first_line "$work/tar.err")); is it the CIFAR-100 binary archive?"

unpacked="$work/$INNER"
for pair in "train.bin:$TRAIN_MD5" "test.bin:$TEST_MD5"; do
  file="${pair%%:*}" want="${pair#*:}"
  got="$(md5_of "$unpacked/$file")"
  [[ "$got" == "$want" ]] ||
    nn_die "$file from $archive has md5 $got, expected $want: the archive is corrupt or not CIFAR-100's; fetch it again"
done

# Swap the checked folder in. A folder cannot be renamed over a non-empty one, so a stale
# $DEST (wrong or partial files) is first renamed aside: at every moment $DEST is either the
# old folder, absent, or the complete new one.
if [[ -e "$DEST" ]]; then
  mv "$DEST" "$work/stale"
fi
mv "$unpacked" "$DEST"
nn_log "CIFAR-100 ready in $DEST (train.bin and test.bin md5 sums match)"
