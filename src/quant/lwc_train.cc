#include "quant/lwc_train.h"

#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "dist/comm.h"
#include "grad/block_grad.h"
#include "model/forward.h"
#include "quant/lwc.h"
#include "util/error.h"
#include "util/progress.h"

namespace slim {

namespace {

using Clock = std::chrono::steady_clock;

// Mean squared difference of n values and its gradient scaled by `w`, added to grad.
double mse_add_grad(const float* out, const float* target, int64_t n, float w, float* grad) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = out[i] - target[i];
    s += double(d) * d;
    grad[i] += w * 2.f * d / float(n);
  }
  return s / double(n);
}

}  // namespace

nlohmann::json lwc_train_model(Model& m, const CalibWindows& calib, const Bitmap& bitmap, const LwcTrainOptions& opt,
                               const std::vector<LinearQuantParams>* slim_params, const Model* slim_model,
                               std::vector<LinearQuantParams>* params_out) {
  const ModelConfig& c = m.config;
  SLIM_CHECK(opt.epochs >= 0, "--lwc-epochs must be >= 0, got {}", opt.epochs);
  SLIM_CHECK(opt.lr > 0, "--lwc-lr must be positive, got {}", opt.lr);
  SLIM_CHECK(opt.batch >= 1, "--lwc-batch must be >= 1, got {}", opt.batch);
  SLIM_CHECK(opt.init == "minmax" || opt.init == "slim", "unknown --lwc-init '{}' (minmax, slim)", opt.init);
  SLIM_CHECK(opt.weights == "raw" || opt.weights == "gptq", "unknown --lwc-weights '{}' (raw, gptq)", opt.weights);
  SLIM_CHECK(opt.init != "slim" || slim_params, "--lwc-init slim needs SliM's parameters");
  SLIM_CHECK(opt.weights != "gptq" || slim_model, "--lwc-weights gptq needs SliM's model");
  const int64_t n = int64_t(calib.tokens.size());
  SLIM_CHECK(n > 0, "SliM-LLM+ needs calibration data (--calib)");
  const int T = calib.seqlen;
  const size_t Td = size_t(T) * c.dim;
  // Several ranks (dist/comm.h): each AdamW step's windows are divided among
  // them, the clipping gradients summed in rank order, and every rank takes the
  // same step. A rank holds the activations of its windows only: step k's
  // share is step_local[k] .. step_local[k + 1] of `mine` (global indices).
  const int ranks = dist::size();
  SLIM_CHECK(ranks == 1 || opt.batch >= ranks,
             "SliM-LLM+ on {} ranks divides each step's windows among them: --lwc-batch must be at least {}, got {}",
             ranks, ranks, opt.batch);
  std::vector<int64_t> mine, step_local = {0};
  for (int64_t s0 = 0; s0 < n; s0 += opt.batch) {
    const int64_t s1 = std::min(n, s0 + opt.batch);
    const dist::Share sh = dist::my_share(s1 - s0);
    for (int64_t i = sh.begin; i < sh.end; ++i) mine.push_back(s0 + i);
    step_local.push_back(int64_t(mine.size()));
  }
  const int64_t nl = int64_t(mine.size());
  auto sum_over_ranks = [&](double v) {
    dist::allreduce_sum({&v, 1});
    return v;
  };
  // Activations of this rank's windows at the current depth: full precision and quantized prefix.
  std::vector<float> fp_in(size_t(nl) * Td), q_in(size_t(nl) * Td), target(size_t(nl) * Td), aug;
  for (int64_t i = 0; i < nl; ++i) {
    embed(m, calib.tokens[size_t(mine[size_t(i)])], &fp_in[size_t(i) * Td]);
    std::copy_n(&fp_in[size_t(i) * Td], Td, &q_in[size_t(i) * Td]);
  }
  if (opt.aug_loss) aug.resize(size_t(nl) * Td);
  RopeTable rope;
  rope.build(c, T);
  BlockScratch bs;
  std::vector<float> k(size_t(T) * c.kv_dim()), v(size_t(T) * c.kv_dim()), out(Td), dout(Td);
  grad::BlockActs acts;
  grad::BlockGrads grads;
  grad::BackwardScratch scratch;
  nlohmann::json blocks = nlohmann::json::array();
  size_t slim_index = 0;  // position in slim_params (execution order)
  const bool progress = opt.progress && dist::is_root();
  Progress prog("block", c.n_layers, progress);
  for (int l = 0; l < c.n_layers; ++l) {
    auto t0 = Clock::now();
    BlockWeights& b = m.weights.blocks[size_t(l)];
    // Targets from the full-precision block (which is also the next fp input).
    for (int64_t i = 0; i < nl; ++i) {
      float* x = &target[size_t(i) * Td];
      std::copy_n(&fp_in[size_t(i) * Td], Td, x);
      block_forward(c, l, b, rope, x, T, 0, k.data(), v.data(), bs);
      if (opt.aug_loss) {
        float* y = &aug[size_t(i) * Td];
        std::copy_n(&q_in[size_t(i) * Td], Td, y);
        block_forward(c, l, b, rope, y, T, 0, k.data(), v.data(), bs);
      }
    }
    // One LWC quantizer per linear, over the latent weights (original or GPTQ-updated).
    BlockWeights qb = b;  // the block as trained: quantized weights swapped in each step
    auto refs = b.linears();
    auto qrefs = qb.linears();
    std::vector<std::vector<float>> latent(refs.size());
    std::vector<std::unique_ptr<LwcLinear>> lwc;
    std::vector<size_t> offset;  // into the flat parameter vector
    size_t n_params = 0;
    for (size_t j = 0; j < refs.size(); ++j) {
      const Linear& L = *refs[j].linear;
      const BitmapLayer* bl = bitmap.find(l, refs[j].name);
      SLIM_CHECK(bl != nullptr, "SliM-LLM+: the bit map has no entry for layer {} {}", l, refs[j].name);
      BlockWeights& sb = const_cast<BlockWeights&>(slim_model ? slim_model->weights.blocks[size_t(l)] : b);
      const Linear& src = opt.weights == "gptq" ? *sb.linears()[j].linear : L;  // linears() is not const
      const Tensor src_w = src.w.to_f32();
      latent[j].assign(src_w.data(), src_w.data() + src_w.numel());
      lwc.push_back(std::make_unique<LwcLinear>(latent[j].data(), L.out(), L.in(), bl->group_size, bl->bits));
      if (opt.init == "slim") {
        const LinearQuantParams& sp = (*slim_params)[slim_index + j];
        SLIM_CHECK(sp.layer == l && sp.name == refs[j].name, "SliM parameters out of order at layer {} {}", l,
                   refs[j].name);
        lwc.back()->init_from_params(sp.params);
      }
      offset.push_back(n_params);
      n_params += size_t(2 * lwc.back()->rows() * lwc.back()->groups());
      qrefs[j].linear->w = Tensor::from(std::vector<float>(size_t(L.w.numel())), L.out(), L.in());
    }
    slim_index += refs.size();
    std::vector<float> theta(n_params), dtheta(n_params);
    auto gather = [&] {  // γ, β of every linear -> theta
      for (size_t j = 0; j < lwc.size(); ++j) {
        auto g = lwc[j]->gamma(), be = lwc[j]->beta();
        std::copy(g.begin(), g.end(), &theta[offset[j]]);
        std::copy(be.begin(), be.end(), &theta[offset[j] + g.size()]);
      }
    };
    auto scatter = [&] {
      for (size_t j = 0; j < lwc.size(); ++j) {
        auto g = lwc[j]->gamma(), be = lwc[j]->beta();
        std::copy_n(&theta[offset[j]], g.size(), g.begin());
        std::copy_n(&theta[offset[j] + g.size()], be.size(), be.begin());
      }
    };
    auto quantize_block = [&] {
      for (size_t j = 0; j < lwc.size(); ++j) lwc[j]->forward(qrefs[j].linear->w.mutable_data());
    };
    gather();
    AdamW adam(n_params, opt.lr, opt.weight_decay);
    nlohmann::json curve = nlohmann::json::array();
    for (int e = 0; e < opt.epochs; ++e) {
      double epoch_loss = 0;
      for (int64_t s0 = 0, step = 0; s0 < n; s0 += opt.batch, ++step) {
        const int64_t s1 = std::min(n, s0 + opt.batch);
        const float w = 1.f / float(s1 - s0);
        quantize_block();
        grads.zero(c, qb);
        for (int64_t i = step_local[size_t(step)]; i < step_local[size_t(step) + 1]; ++i) {
          grad::block_train_forward(c, qb, rope, &q_in[size_t(i) * Td], out.data(), T, acts);
          std::fill(dout.begin(), dout.end(), 0.f);
          double loss = mse_add_grad(out.data(), &target[size_t(i) * Td], int64_t(Td), w, dout.data());
          if (opt.aug_loss) loss += mse_add_grad(out.data(), &aug[size_t(i) * Td], int64_t(Td), w, dout.data());
          epoch_loss += loss;
          grad::block_backward(c, qb, rope, dout.data(), acts, grads, nullptr, scratch);
        }
        std::fill(dtheta.begin(), dtheta.end(), 0.f);
        for (size_t j = 0; j < lwc.size(); ++j) {
          const size_t half = size_t(lwc[j]->rows() * lwc[j]->groups());
          lwc[j]->backward(grads.of(refs[j].name)->data(), &dtheta[offset[j]], &dtheta[offset[j] + half]);
        }
        if (ranks > 1) {  // the same gradient, hence the same step, on every rank
          std::vector<double> d(dtheta.begin(), dtheta.end());
          dist::allreduce_sum(d);
          std::copy(d.begin(), d.end(), dtheta.begin());
        }
        adam.step(theta, dtheta);
        scatter();
      }
      if (ranks > 1) epoch_loss = sum_over_ranks(epoch_loss);
      epoch_loss /= double(n);
      SLIM_CHECK(std::isfinite(epoch_loss), "SliM-LLM+: the loss of layer {} became {} at epoch {}; try a smaller --lwc-lr",
                 l, epoch_loss, e);
      curve.push_back(epoch_loss);
      if (progress)
        fmt::print(stderr, "\rlayer {} epoch {}/{} loss {:.6g}        ", l, e + 1, opt.epochs, epoch_loss);
    }
    // Fake-quantize with the learned ranges; the block's outputs feed the next one.
    quantize_block();
    double final_loss = 0;
    for (size_t j = 0; j < refs.size(); ++j) {
      refs[j].linear->w = qrefs[j].linear->w;
      if (params_out)
        params_out->push_back({l, refs[j].name, bitmap.find(l, refs[j].name)->group_size, lwc[j]->group_bits(),
                               lwc[j]->params()});
    }
    for (int64_t i = 0; i < nl; ++i) {
      float* x = &q_in[size_t(i) * Td];
      block_forward(c, l, b, rope, x, T, 0, k.data(), v.data(), bs);
      const float* t = &target[size_t(i) * Td];
      double s = 0;
      for (size_t e = 0; e < Td; ++e) s += double(x[e] - t[e]) * (x[e] - t[e]);
      final_loss += s / double(Td);
    }
    if (ranks > 1) final_loss = sum_over_ranks(final_loss);
    fp_in.swap(target);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    blocks.push_back({{"block", l},
                      {"loss", curve},
                      {"final_mse", final_loss / double(n)},
                      {"parameters", n_params},
                      {"seconds", secs}});
    if (progress) fmt::print(stderr, "\n");
    prog.update(l + 1, fmt::format("layer {} mse {:.4g}", l, final_loss / double(n)));
  }
  prog.finish();
  return {{"blocks", blocks},
          {"epochs", opt.epochs},
          {"lr", opt.lr},
          {"weight_decay", opt.weight_decay},
          {"aug_loss", opt.aug_loss},
          {"batch", opt.batch},
          {"init", opt.init},
          {"weights", opt.weights}};
}

nlohmann::json quantize_slim_plus(Model& m, const CalibWindows* calib, const QuantizeOptions& opt,
                                  Bitmap* bitmap_out) {
  SLIM_CHECK(calib != nullptr && !calib->tokens.empty(), "SliM-LLM+ needs calibration data (--calib)");
  auto t0 = Clock::now();
  LwcTrainOptions lo;
  if (opt.lwc_epochs >= 0) lo.epochs = opt.lwc_epochs;
  lo.lr = opt.lwc_lr;
  lo.aug_loss = opt.lwc_aug_loss;
  lo.batch = opt.lwc_batch;
  if (!opt.lwc_init.empty()) lo.init = opt.lwc_init;
  if (!opt.lwc_weights.empty()) lo.weights = opt.lwc_weights;
  lo.progress = opt.progress;
  QuantizeOptions so = opt;
  so.method = "slim";
  so.block_done = nullptr;  // SliM's blocks are an intermediate, not the output
  std::vector<LinearQuantParams> slim_params;
  so.params_out = &slim_params;
  Model slim_model = m;  // shares the tensors; quantize_model replaces each linear's weights, never writes into them
  Bitmap bitmap;
  nlohmann::json report = quantize_model(slim_model, calib, so, &bitmap);
  const double slim_s = std::chrono::duration<double>(Clock::now() - t0).count();
  nlohmann::json lwc = lwc_train_model(m, *calib, opt.bitmap ? *opt.bitmap : bitmap, lo, &slim_params, &slim_model,
                                       opt.params_out);
  lwc["slim_seconds"] = slim_s;
  report["lwc"] = lwc;
  report["totals"]["method"] = "slim+";
  report["totals"]["total_seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
  if (bitmap_out) *bitmap_out = std::move(bitmap);
  return report;
}

}  // namespace slim
