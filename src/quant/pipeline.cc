#include "quant/pipeline.h"

#include <chrono>
#include <cmath>
#include <mutex>

#include "calib/sequential.h"
#include "quant/bits.h"
#include "quant/gptq.h"
#include "quant/quantizer.h"
#include "util/error.h"
#include "util/progress.h"

namespace slim {

namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  double weights = 0, bits = 0, seconds = 0;
  int damp_retries = 0;
};

nlohmann::json layer_line(int layer, const char* name, const Linear& L, const QuantizeOptions& opt,
                          std::span<const int> gbits, double seconds, Totals& tot) {
  const double bits = linear_storage_bits(L.out(), L.in(), opt.group_size, gbits);
  tot.weights += double(L.out()) * double(L.in());
  tot.bits += bits;
  tot.seconds += seconds;
  return {{"layer", layer},
          {"name", name},
          {"shape", {L.out(), L.in()}},
          {"bits", opt.bits},
          {"group_size", opt.group_size},
          {"groups", gbits.size()},
          {"bits_per_weight", bits / (double(L.out()) * double(L.in()))},
          {"seconds", seconds}};
}

void check_finite(const Linear& L, int layer, const char* name) {
  for (int64_t i = 0; i < L.w.numel(); ++i)
    SLIM_CHECK(std::isfinite(L.w.data()[i]), "layer {} {}: the weights contain NaN or Inf", layer, name);
}

}  // namespace

nlohmann::json quantize_model(Model& m, const CalibWindows* calib, const QuantizeOptions& opt) {
  SLIM_CHECK(opt.bits >= 1 && opt.bits <= 8, "--bits must be in 1..8, got {}", opt.bits);
  SLIM_CHECK(opt.group_size == -1 || opt.group_size >= 1, "--group-size must be -1 or positive, got {}",
             opt.group_size);
  SLIM_CHECK(opt.method == "rtn" || opt.method == "gptq", "unknown --method '{}' (rtn, gptq)", opt.method);
  nlohmann::json layers = nlohmann::json::array();
  Totals tot;
  auto t_start = Clock::now();

  if (opt.method == "rtn") {
    Progress prog("block", m.config.n_layers, opt.progress);
    for (int l = 0; l < m.config.n_layers; ++l) {
      for (auto& ref : m.weights.blocks[size_t(l)].linears()) {
        Linear& L = *ref.linear;
        check_finite(L, l, ref.name);
        auto t0 = Clock::now();
        std::vector<float> q(size_t(L.w.numel()));
        rtn_quantize(L.w.data(), L.out(), L.in(), opt.bits, opt.group_size, q.data());
        L.w = Tensor::from(std::move(q), L.out(), L.in());
        std::vector<int> gb(size_t(n_groups(L.in(), opt.group_size)), opt.bits);
        layers.push_back(layer_line(l, ref.name, L, opt, gb,
                                    std::chrono::duration<double>(Clock::now() - t0).count(), tot));
      }
      prog.update(l + 1);
    }
    prog.finish();
  } else {
    SLIM_CHECK(calib != nullptr && !calib->tokens.empty(), "GPTQ needs calibration data (--calib)");
    SequentialOptions so;
    so.fp16_activations = opt.fp16_activations;
    so.progress = opt.progress;
    run_sequential(
        m, *calib,
        [&](LinearJob& job) {
          Linear& L = *job.linear;
          check_finite(L, job.layer, job.name);
          auto t0 = Clock::now();
          GptqOptions go;
          go.bits = opt.bits;
          go.group_size = opt.group_size;
          go.damp = opt.damp;
          go.act_order = opt.act_order;
          go.static_groups = opt.static_groups;
          std::vector<double> h = job.hessian->hessian();
          GptqResult r = gptq_quantize(L.w.span(), L.out(), L.in(), h, go);
          L.w = Tensor::from(std::move(r.q), L.out(), L.in());
          auto line = layer_line(job.layer, job.name, L, opt, r.group_bits,
                                 std::chrono::duration<double>(Clock::now() - t0).count(), tot);
          line["gptq_loss"] = r.loss;
          line["damp"] = r.damp_used;
          line["damp_retries"] = r.damp_retries;
          line["dead_columns"] = r.dead_columns;
          tot.damp_retries += r.damp_retries;
          if (r.damp_retries > 0)
            fmt::print(stderr, "\nlayer {} {}: Hessian not positive definite; damp raised to {:g} after {} retries\n",
                       job.layer, job.name, r.damp_used, r.damp_retries);
          layers.push_back(std::move(line));
        },
        so);
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - t_start).count();
  // Whole-model size: quantized linears at their storage cost, the rest fp16.
  const double other = double(m.config.n_params()) - tot.weights;
  return {{"layers", layers},
          {"totals",
           {{"method", opt.method},
            {"bits", opt.bits},
            {"group_size", opt.group_size},
            {"quantized_weights", tot.weights},
            {"bits_per_weight", tot.bits / tot.weights},
            {"model_bits_per_weight_fp16_rest", (tot.bits + other * 16.0) / double(m.config.n_params())},
            {"damp_retries", tot.damp_retries},
            {"quantize_seconds", tot.seconds},
            {"total_seconds", total_s}}}};
}

}  // namespace slim
