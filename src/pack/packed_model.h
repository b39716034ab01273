// The packed model directory: model.slim.safetensors (every decoder-block
// linear packed, everything else in the source dtype) + config.json +
// tokenizer. docs/FORMAT.md specifies the file byte by byte; any safetensors
// reader can list it.
#pragma once
#include <map>
#include <span>
#include <string>

#include "model/weights.h"
#include "quant/pipeline.h"

namespace slim {

inline constexpr const char* kPackedFileName = "model.slim.safetensors";
inline constexpr const char* kPackedIndexName = "model.slim.safetensors.index.json";  // sharded output
inline constexpr const char* kPackedFormat = "slim-packed";
inline constexpr int kPackedFormatVersion = 1;

struct PackedSaveOptions {
  std::string source_dtype = "F32";             // F32 | F16 | BF16: dtype of the unquantized tensors
  std::map<std::string, std::string> metadata;  // extra header entries (method, calibration, ...)
  // > 0: also pack the output head, by round-to-nearest at this many bits in
  // groups of head_group_size (llama.cpp's k-quants quantize it too). The model
  // is then no longer the fake-quantized one, whose head is full precision.
  int head_bits = 0;
  int head_group_size = 128;  // groups of the packed head and embedding
  // > 0: also pack the token embedding the same way (a tied head then reads
  // the packed embedding too). Rows are dequantized one token at a time.
  int embed_bits = 0;
  // Which tensors to write (sharded output, written as the blocks finish):
  // every tensor (kAllParts), everything outside the blocks plus config.json
  // (kRestPart), or decoder block `part` only; into `file_name`.
  int part = -2;
  std::string file_name = kPackedFileName;
  int group_size = 0;  // the model's group size for the metadata when `params` is empty (kRestPart)
};
inline constexpr int kAllParts = -2, kRestPart = -1;

// Writes kPackedFileName and config.json into `dir` (which must exist).
// `m` holds the fake-quantized weights and `params` the quantizer parameters
// of every block linear (quantize_model's params_out). The codes are derived
// from both, and every linear is checked to dequantize to exactly m's weights
// before anything is written. Files appear atomically (temp + rename).
void save_packed_model(const Model& m, std::span<const LinearQuantParams> params, const PackedSaveOptions& opt,
                       const std::string& dir);

// True when `dir` holds a packed model.
bool is_packed_model_dir(const std::string& dir);

// Loads a packed directory. The file is mapped; codes, scales and 1-bit
// offsets are used in place. Every size, dtype, shape, offset and metadata
// entry is validated; errors name the file and tensor.
Model load_packed_model(const std::string& dir);

// PackedLinear::prepare_for_decode() on every packed linear of m (blocks and
// head; the packed embedding is read by rows, not by the GEMV): the decode
// kernel's code tiles built now, e.g. at `slim generate`'s load. Returns the
// bytes of anonymous memory they take (0 for a dense model or where the
// dispatched kernel reads no tiles).
int64_t prepare_packed_decode(const Model& m);
// The bytes prepare_packed_decode(m) will take, without building anything.
int64_t packed_decode_bytes(const Model& m);
// For speed runs (slim generate): prompts through the int8 prefill GEMM
// (x86: AVX2, AVX-512; int8_gemm.h) unless SLIM_GEMM=exact. Returns how many of m's packed
// linears (blocks and head) it applies to; 0 where it runs nowhere.
int64_t use_int8_prefill(const Model& m);

// Summary of a packed file for `slim inspect`: bytes per part, bits/weight.
struct PackedSummary {
  int64_t file_bytes = 0;
  int64_t quantized_weights = 0;
  int64_t packed_bytes = 0;  // codes + scales + zeros + offsets of all linears
  int64_t other_bytes = 0;   // embeddings, norms, head, biases
  std::map<int, int64_t> weights_by_bits;  // bit width -> weights stored at that width
  std::map<std::string, std::string> metadata;
};
// `m` is a model loaded by load_packed_model (its directory is m.source).
PackedSummary summarize_packed_model(const Model& m);

}  // namespace slim
