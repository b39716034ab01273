#!/usr/bin/env bash
# The main job on the default model: perplexity on the TinyStories excerpt and
# a greedy story. Needs a built build/slim (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SLIM_SHARED:-../shared}
TEXT="$SHARED/data/text/tinystories_excerpt.txt"
if [ -f "$TEXT" ]; then
  build/slim ppl --model stories260K --text "$TEXT" --seqlen 512
else
  echo "demo: $TEXT not found; skipping perplexity"
fi
build/slim generate --model stories260K --prompt "Once upon a time" --max-tokens 128 --temperature 0
