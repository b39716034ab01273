# Sourced by the end-to-end scripts tests/cli/*.sh (called as SCRIPT SLIM_BINARY SOURCE_DIR):
# sets slim, src and shared (the real data beside the checkout), a scratch directory $work
# removed on exit, fail(), and need_stories (exit 77 = skipped when the data is absent).
slim=$(realpath "$1") src=$2
shared=$(realpath -m "$src/../shared/data")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
need_stories() {
  [ -f "$shared/models/stories260K.bin" ] || { echo "skip: no $shared/models/stories260K.bin"; exit 77; }
}
