// 2-D weight tensor in its storage type: fp32, or fp16/bf16 exactly as the
// checkpoint stores them. Either a view into a memory-mapped file (zero copy)
// or owned storage (replaced by a quantizer, or converted on request). Shape
// is (rows, cols), row-major; a vector is (1, n).
//
// data() is the fp32 pointer and exists only for F32 tensors; 16-bit weights
// are read by the dense16 kernels (model/dense16.h) or converted with to_f32()
// where a method needs fp32 (one block at a time in the quantization driver).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace slim {

enum class ElemType : uint8_t { F32, F16, BF16 };
const char* elem_type_name(ElemType t);  // "F32", "F16", "BF16" (safetensors names)

class Tensor {
 public:
  Tensor() = default;
  // A view into memory kept alive by `keepalive` (the mapping).
  static Tensor view(const float* data, int64_t rows, int64_t cols, std::shared_ptr<const void> keepalive);
  // A view of 16-bit values (2-byte aligned), F16 or BF16.
  static Tensor view16(const uint16_t* data, ElemType type, int64_t rows, int64_t cols,
                       std::shared_ptr<const void> keepalive);
  // Owned, zero-filled.
  static Tensor zeros(int64_t rows, int64_t cols);
  static Tensor from(std::vector<float> values, int64_t rows, int64_t cols);
  static Tensor from16(std::vector<uint16_t> values, ElemType type, int64_t rows, int64_t cols);

  ElemType type() const { return type_; }
  bool is_f32() const { return type_ == ElemType::F32; }
  size_t elem_bytes() const { return is_f32() ? 4 : 2; }
  // fp32 values; throws on a 16-bit tensor (convert with to_f32() first).
  const float* data() const {
    if (!is_f32()) not_f32();
    return static_cast<const float*>(data_);
  }
  const uint16_t* data16() const;  // F16/BF16 values; throws on F32
  const void* raw() const { return data_; }
  // Mutable access: a view is first copied into owned storage (copy on write). F32 only.
  float* mutable_data();
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t numel() const { return rows_ * cols_; }
  int64_t bytes() const { return numel() * int64_t(elem_bytes()); }
  bool empty() const { return numel() == 0; }
  bool is_view() const { return owned_ == nullptr && data_ != nullptr; }
  // Identity of the owned storage (empty for a view), without keeping it
  // alive: two tensors share storage iff their storage() have the same owner
  // (neither owner_before the other), and a later allocation never matches.
  std::weak_ptr<const void> storage() const { return owned_; }
  std::span<const float> span() const { return {data(), size_t(numel())}; }
  const float* row(int64_t r) const { return data() + r * cols_; }

  // The same values as fp32: this tensor itself (shared) when already F32,
  // else an owned converted copy (exact: fp16 and bf16 embed in fp32).
  Tensor to_f32() const;
  // Rows [r0, r1) as a view sharing this tensor's storage (kept alive), in its
  // type: a fused checkpoint matrix (Phi-3 qkv_proj) split without a copy.
  Tensor rows_view(int64_t r0, int64_t r1) const;
  // Rows [r0, r1) as fp32 into out (r1 - r0, ldo), any storage type.
  void rows_to_f32(int64_t r0, int64_t r1, float* out, int64_t ldo) const;

 private:
  [[noreturn]] static void not_f32();
  static Tensor owned(std::shared_ptr<void> storage, const void* data, ElemType type, int64_t rows, int64_t cols);
  const void* data_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
  ElemType type_ = ElemType::F32;
  std::shared_ptr<void> owned_;  // std::vector<float> or std::vector<uint16_t>
  std::shared_ptr<const void> keepalive_;
};

}  // namespace slim
