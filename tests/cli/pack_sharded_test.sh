#!/usr/bin/env bash
# slim pack on the sharded output of slim quantize --pack (shards + index, as
# the quantizer streams blocks): it reads the format metadata from the first
# shard, packs the head and embedding, and the result generates.
#   pack_sharded_test.sh SLIM_BINARY SOURCE_DIR
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
need_stories
"$slim" quantize --model "$shared/models/stories260K.bin" --tokenizer "$shared/models/tok512.bin" --method rtn --bits 4 \
  --group-size 16 --pack --threads 1 --out "$work/m" > "$work/log" 2>&1 || { cat "$work/log"; fail "quantize"; }
[ -f "$work/m/model.slim.safetensors.index.json" ] && [ ! -f "$work/m/model.slim.safetensors" ] || { ls "$work/m"; fail "quantize did not write shards"; }
"$slim" pack --model "$work/m" --head-bits 4 --embed-bits 4 --head-group-size 16 --out "$work/p" > "$work/log" 2>&1 || { cat "$work/log"; fail "pack of a sharded model"; }
"$slim" inspect --model "$work/p" > "$work/log" 2>&1 || { cat "$work/log"; fail "inspect"; }
"$slim" generate --model "$work/p" --tokenizer "$shared/models/tok512.bin" -n 4 --temperature 0 --threads 1 > "$work/log" 2>&1 || { cat "$work/log"; fail "generate"; }
echo "ok"
