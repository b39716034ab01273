#!/usr/bin/env python3
"""Writes a Hugging Face Llama checkpoint (config.json, bf16/f16/f32 safetensors, one file or sharded,
tokenizer.model) as a llama-architecture GGUF (version 3) that llama.cpp loads, for the issue-11 side by side.

Why our own writer: llama.cpp's convert_hf_to_gguf.py imports torch (and its gguf-py wants numpy >= 2.2),
and this machine reaches only Debian's archive (torch 1.13, numpy 1.24) and npm, not PyPI. GGUF is a
documented, simple format; this script needs only the Python standard library.

What it writes: 2-D weights in the checkpoint's dtype (BF16/F16/F32, bytes copied), 1-D norms as F32 (as
llama.cpp's converter does); q/k rows permuted from Hugging Face's rotate-half RoPE layout to the
interleaved-pairs layout llama.cpp's "llama" architecture rotates (slim applies rotate_half to HF
checkpoints, so the same weights give the same model in both programs); the SentencePiece vocabulary of
tokenizer.model (pieces, scores, types parsed from its protobuf).

Usage: gguf_from_hf.py MODEL_DIR OUT.gguf
"""
import json
import os
import struct
import sys

ALIGN = 32
# ggml tensor types and GGUF metadata value types (GGUF spec, ggml/docs/gguf.md)
GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9
DTYPE = {"BF16": (GGML_BF16, 2), "F16": (GGML_F16, 2), "F32": (GGML_F32, 4)}
FILE_TYPE = {GGML_F32: 0, GGML_F16: 1, GGML_BF16: 32}  # llama_ftype ALL_F32 / MOSTLY_F16 / MOSTLY_BF16


def fail(msg):
    sys.exit("error: " + msg)


# ---- inputs


def read_safetensors_index(model_dir):
    """name -> (path, dtype, shape, byte offset, byte length) for every tensor of the checkpoint."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    elif os.path.exists(os.path.join(model_dir, "model.safetensors")):
        files = ["model.safetensors"]
    else:
        fail(f"{model_dir}: no model.safetensors nor model.safetensors.index.json")
    out = {}
    for f in files:
        path = os.path.join(model_dir, f)
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, t in header.items():
            if name == "__metadata__":
                continue
            if t["dtype"] not in DTYPE:
                fail(f"{path}: tensor {name}: dtype {t['dtype']} not supported (BF16, F16, F32)")
            b, e = t["data_offsets"]
            out[name] = (path, t["dtype"], t["shape"], 8 + n + b, e - b)
    return out


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def proto_fields(buf):
    """(field number, wire type, value) of one protobuf message; value is bytes for length-delimited fields."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} at byte {i}")
        yield field, wire, v


def read_sentencepiece(path):
    """(pieces, scores, types) of a SentencePiece ModelProto (field 1: repeated SentencePiece {1 piece,
    2 score, 3 type}); types are SentencePiece's (1 normal, 2 unknown, 3 control, 4 user, 5 unused, 6 byte),
    the same numbers as llama.cpp's token types."""
    try:
        buf = open(path, "rb").read()
        pieces, scores, types = [], [], []
        for field, wire, v in proto_fields(buf):
            if field != 1 or wire != 2:
                continue
            piece, score, typ = None, 0.0, 1
            for f, w, x in proto_fields(v):
                if f == 1 and w == 2:
                    piece = x.decode("utf-8")
                elif f == 2 and w == 5:
                    (score,) = struct.unpack("<f", x)
                elif f == 3 and w == 0:
                    typ = x
            if piece is None:
                raise ValueError(f"piece {len(pieces)} has no text")
            pieces.append(piece)
            scores.append(score)
            types.append(typ)
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        fail(f"{path}: not a SentencePiece model ({e})")
    if not pieces:
        fail(f"{path}: no pieces (not a SentencePiece model?)")
    return pieces, scores, types


# ---- GGUF encoding


def g_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def g_kv(key, typ, value):
    out = g_str(key) + struct.pack("<I", typ)
    if typ == T_STR:
        return out + g_str(value)
    if typ == T_ARR:
        etyp, items = value
        out += struct.pack("<IQ", etyp, len(items))
        if etyp == T_STR:
            return out + b"".join(g_str(s) for s in items)
        return out + struct.pack("<%d%s" % (len(items), {T_F32: "f", T_I32: "i", T_U32: "I"}[etyp]), *items)
    return out + struct.pack({T_U32: "<I", T_F32: "<f", T_BOOL: "<?", T_I32: "<i"}[typ], value)


def permute_rows(data, rows, row_bytes, n_head):
    """Rows of one q or k projection, (n_head * head_dim, cols): HF's rotate-half order (first half of each
    head's dims, then the second) to interleaved pairs (row 2i takes half-row i, row 2i+1 takes i + hd/2)."""
    hd = rows // n_head
    out = bytearray(len(data))
    for h in range(n_head):
        for i in range(hd // 2):
            for j in range(2):
                src = (h * hd + j * (hd // 2) + i) * row_bytes
                dst = (h * hd + 2 * i + j) * row_bytes
                out[dst:dst + row_bytes] = data[src:src + row_bytes]
    return bytes(out)


def bf16_or_f16_to_f32(raw, dtype):
    if dtype == "F32":
        return raw
    n = len(raw) // 2
    if dtype == "BF16":
        return struct.pack("<%dI" % n, *(v << 16 for v in struct.unpack("<%dH" % n, raw)))
    return struct.pack("<%df" % n, *struct.unpack("<%de" % n, raw))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, out_path = sys.argv[1], sys.argv[2]
    cfg_path = os.path.join(model_dir, "config.json")
    cfg = json.load(open(cfg_path))
    for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"):
        if k not in cfg:
            fail(f"{cfg_path}: field {k} missing")
    if cfg.get("model_type") != "llama":
        fail(f"{cfg_path}: model_type {cfg.get('model_type')!r}: only llama is written")
    n_layer, n_head = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    head_dim = cfg.get("head_dim", cfg["hidden_size"] // n_head)
    tensors = read_safetensors_index(model_dir)
    pieces, scores, types = read_sentencepiece(os.path.join(model_dir, "tokenizer.model"))
    if len(pieces) != cfg["vocab_size"]:
        fail(f"{model_dir}/tokenizer.model: {len(pieces)} pieces, config.json vocab_size {cfg['vocab_size']}")

    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down"}
    for i in range(n_layer):
        for hf, gg in per_layer.items():
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{gg}.weight"
    if cfg.get("tie_word_embeddings") and "lm_head.weight" not in tensors:
        del names["lm_head.weight"]  # llama.cpp reuses token_embd when output.weight is absent
    missing = [n for n in names if n not in tensors]
    if missing:
        fail(f"{model_dir}: tensors missing: {', '.join(missing[:5])}")
    extra = [n for n in tensors if n not in names]
    if extra:
        fail(f"{model_dir}: tensors this writer does not map: {', '.join(extra[:5])}")

    # tensor infos: (gguf name, hf name, ggml type, ne (innermost first), nbytes, offset)
    plan, offset, wtype = [], 0, None
    for hf, gg in names.items():
        path, dtype, shape, _, nbytes = tensors[hf]
        if len(shape) == 1:
            gtype, nbytes = GGML_F32, shape[0] * 4
        else:
            gtype = DTYPE[dtype][0]
            wtype = gtype
        plan.append((gg, hf, gtype, list(reversed(shape)), nbytes, offset))
        offset += (nbytes + ALIGN - 1) // ALIGN * ALIGN

    kv = [
        ("general.architecture", T_STR, "llama"),
        ("general.name", T_STR, os.path.basename(os.path.normpath(model_dir))),
        ("general.file_type", T_U32, FILE_TYPE[wtype]),
        ("general.alignment", T_U32, ALIGN),
        ("llama.context_length", T_U32, cfg.get("max_position_embeddings", 2048)),
        ("llama.embedding_length", T_U32, cfg["hidden_size"]),
        ("llama.block_count", T_U32, n_layer),
        ("llama.feed_forward_length", T_U32, cfg["intermediate_size"]),
        ("llama.rope.dimension_count", T_U32, head_dim),
        ("llama.attention.head_count", T_U32, n_head),
        ("llama.attention.head_count_kv", T_U32, n_kv),
        ("llama.attention.layer_norm_rms_epsilon", T_F32, cfg.get("rms_norm_eps", 1e-5)),
        ("llama.rope.freq_base", T_F32, cfg.get("rope_theta", 10000.0)),
        ("llama.vocab_size", T_U32, cfg["vocab_size"]),
        ("tokenizer.ggml.model", T_STR, "llama"),
        ("tokenizer.ggml.tokens", T_ARR, (T_STR, pieces)),
        ("tokenizer.ggml.scores", T_ARR, (T_F32, scores)),
        ("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
        ("tokenizer.ggml.bos_token_id", T_U32, cfg.get("bos_token_id", 1)),
        ("tokenizer.ggml.eos_token_id", T_U32, cfg.get("eos_token_id", 2)),
        ("tokenizer.ggml.unknown_token_id", T_U32, types.index(2) if 2 in types else 0),
        ("tokenizer.ggml.add_bos_token", T_BOOL, True),
    ]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(plan), len(kv)) + b"".join(g_kv(*x) for x in kv)
    for gg, _, gtype, ne, _, off in plan:
        head += g_str(gg) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        head += struct.pack("<IQ", gtype, off)
    head += b"\0" * (-len(head) % ALIGN)

    tmp = out_path + ".tmp"
    with open(tmp, "wb") as out:
        out.write(head)
        for gg, hf, gtype, ne, nbytes, off in plan:
            path, dtype, shape, start, length = tensors[hf]
            with open(path, "rb") as fh:
                fh.seek(start)
                raw = fh.read(length)
            if len(raw) != length:
                fail(f"{path}: tensor {hf} truncated ({len(raw)} of {length} bytes)")
            if len(shape) == 1:
                raw = bf16_or_f16_to_f32(raw, dtype)
            elif hf.endswith(("q_proj.weight", "k_proj.weight")):
                heads = n_head if "q_proj" in hf else n_kv
                if shape[0] != heads * head_dim:
                    fail(f"{path}: {hf} has {shape[0]} rows, expected {heads} heads x {head_dim}")
                raw = permute_rows(raw, shape[0], length // shape[0], heads)
            assert len(raw) == nbytes and out.tell() == len(head) + off, hf
            out.write(raw)
            out.write(b"\0" * (-nbytes % ALIGN))
    os.replace(tmp, out_path)
    print(f"wrote {out_path}: {len(plan)} tensors, {len(pieces)} tokens, {os.path.getsize(out_path) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
