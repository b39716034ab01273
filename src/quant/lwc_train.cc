#include "quant/lwc_train.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "dist/comm.h"
#include "grad/block_grad.h"
#include "model/forward.h"
#include "quant/lwc.h"
#include "util/error.h"

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

double sum_over_ranks(double v) {
  dist::allreduce_sum({&v, 1});
  return v;
}

}  // namespace

LwcTrainOptions lwc_train_options(const QuantizeOptions& q) {
  LwcTrainOptions lo;
  if (q.lwc_epochs >= 0) lo.epochs = q.lwc_epochs;
  lo.lr = q.lwc_lr;
  lo.aug_loss = q.lwc_aug_loss;
  lo.batch = q.lwc_batch;
  if (!q.lwc_init.empty()) lo.init = q.lwc_init;
  if (!q.lwc_weights.empty()) lo.weights = q.lwc_weights;
  lo.progress = q.progress;
  return lo;
}

std::vector<int64_t> lwc_rank_windows(int64_t n, int batch, int rank, int ranks, std::vector<int64_t>* step_local) {
  SLIM_CHECK(ranks == 1 || batch >= ranks,
             "SliM-LLM+ on {} ranks divides each step's windows among them: --lwc-batch must be at least {}, got {}",
             ranks, ranks, batch);
  SLIM_CHECK(batch >= 1, "--lwc-batch must be >= 1, got {}", batch);
  std::vector<int64_t> mine;
  if (step_local) *step_local = {0};
  for (int64_t s0 = 0; s0 < n; s0 += batch) {
    const int64_t s1 = std::min(n, s0 + batch);
    const dist::Share sh = dist::share_of(s1 - s0, rank, ranks);
    for (int64_t i = sh.begin; i < sh.end; ++i) mine.push_back(s0 + i);
    if (step_local) step_local->push_back(int64_t(mine.size()));
  }
  return mine;
}

nlohmann::json lwc_train_block(const ModelConfig& c, int layer, BlockWeights& b, const BlockStreams& streams,
                               int64_t n, const Bitmap& bitmap, const std::vector<SlimLinearResult>& slim,
                               const LwcTrainOptions& opt, std::vector<LinearQuantParams>* params_out) {
  SLIM_CHECK(opt.epochs >= 0, "--lwc-epochs must be >= 0, got {}", opt.epochs);
  SLIM_CHECK(opt.lr > 0, "--lwc-lr must be positive, got {}", opt.lr);
  SLIM_CHECK(opt.init == "minmax" || opt.init == "slim", "unknown --lwc-init '{}' (minmax, slim)", opt.init);
  SLIM_CHECK(opt.weights == "raw" || opt.weights == "gptq", "unknown --lwc-weights '{}' (raw, gptq)", opt.weights);
  SLIM_CHECK(bool(streams.reference), "internal: SliM-LLM+ needs the driver's full-precision stream");
  const auto t0 = Clock::now();
  const int T = streams.seqlen;
  const size_t Td = size_t(T) * c.dim;
  const int ranks = dist::size();
  std::vector<int64_t> step_local;
  const std::vector<int64_t> mine = lwc_rank_windows(n, opt.batch, dist::rank(), ranks, &step_local);
  SLIM_CHECK(int64_t(mine.size()) == streams.windows, "internal: rank {} holds {} windows, SliM-LLM+ expects {}",
             dist::rank(), streams.windows, mine.size());
  const int64_t nl = streams.windows;
  RopeTable rope;
  rope.build(c, T);
  BlockScratch bs;
  std::vector<float> k(size_t(T) * c.kv_dim()), v(size_t(T) * c.kv_dim());
  std::vector<float> x(Td), target(Td), out(Td), dout(Td);  // one window each: (T, dim)
  // aug_loss: the full-precision block's outputs on the quantized inputs, (nl, T, dim).
  std::vector<float> aug;
  if (opt.aug_loss) {
    aug.resize(size_t(nl) * Td);
    for (int64_t i = 0; i < nl; ++i) {
      float* y = &aug[size_t(i) * Td];
      streams.inputs(i, y);
      block_forward(c, layer, b, rope, y, T, 0, k.data(), v.data(), bs);
    }
  }
  // One LWC quantizer per linear, over the latent weights (original or GPTQ-updated).
  BlockWeights qb = b;  // the block as trained: quantized weights swapped in each step
  auto refs = b.linears();
  auto qrefs = qb.linears();
  SLIM_CHECK(slim.empty() || slim.size() == refs.size(), "internal: SliM results of {} linears, the block has {}",
             slim.size(), refs.size());
  SLIM_CHECK(!slim.empty() || (opt.init != "slim" && opt.weights != "gptq"),
             "internal: --lwc-init slim / --lwc-weights gptq without SliM's results");
  std::vector<std::vector<float>> latent(refs.size());  // (rows, cols) each
  std::vector<std::unique_ptr<LwcLinear>> lwc;
  std::vector<size_t> offset;  // into the flat parameter vector
  size_t n_params = 0;
  for (size_t j = 0; j < refs.size(); ++j) {
    const Linear& L = *refs[j].linear;
    const BitmapLayer* bl = bitmap.find(layer, refs[j].name);
    SLIM_CHECK(bl != nullptr, "SliM-LLM+: the bit map has no entry for layer {} {}", layer, refs[j].name);
    if (opt.weights == "gptq") {
      latent[j] = slim[j].q;
    } else {
      const Tensor w = L.w.to_f32();
      latent[j].assign(w.data(), w.data() + w.numel());
    }
    lwc.push_back(std::make_unique<LwcLinear>(latent[j].data(), L.out(), L.in(), bl->group_size, bl->bits));
    if (opt.init == "slim") lwc.back()->init_from_params(slim[j].params);
    offset.push_back(n_params);
    n_params += size_t(2 * lwc.back()->rows() * lwc.back()->groups());
    qrefs[j].linear->w = Tensor::from(std::vector<float>(size_t(L.w.numel())), L.out(), L.in());
  }
  std::vector<float> theta(n_params), dtheta(n_params);  // every linear's γ then β
  auto gather = [&] {
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
  grad::BlockActs acts;
  grad::BlockGrads grads;
  grad::BackwardScratch scratch;
  const bool progress = opt.progress && dist::is_root();
  nlohmann::json curve = nlohmann::json::array();
  for (int e = 0; e < opt.epochs; ++e) {
    double epoch_loss = 0;
    for (int64_t s0 = 0, step = 0; s0 < n; s0 += opt.batch, ++step) {
      const int64_t s1 = std::min(n, s0 + opt.batch);
      const float w = 1.f / float(s1 - s0);
      quantize_block();
      grads.zero(c, qb);
      for (int64_t i = step_local[size_t(step)]; i < step_local[size_t(step) + 1]; ++i) {
        streams.inputs(i, x.data());
        streams.reference(i, target.data());
        grad::block_train_forward(c, qb, rope, x.data(), out.data(), T, acts);
        std::fill(dout.begin(), dout.end(), 0.f);
        double loss = mse_add_grad(out.data(), target.data(), int64_t(Td), w, dout.data());
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
               layer, epoch_loss, e);
    curve.push_back(epoch_loss);
    if (progress) fmt::print(stderr, "\rlayer {} epoch {}/{} loss {:.6g}        ", layer, e + 1, opt.epochs, epoch_loss);
  }
  if (progress && opt.epochs > 0) fmt::print(stderr, "\n");
  // Fake-quantize with the learned ranges; the driver propagates the block.
  quantize_block();
  for (size_t j = 0; j < refs.size(); ++j) {
    refs[j].linear->w = qrefs[j].linear->w;
    if (params_out)
      params_out->push_back({layer, refs[j].name, bitmap.find(layer, refs[j].name)->group_size, lwc[j]->group_bits(),
                             lwc[j]->params()});
  }
  double final_loss = 0;  // the trained block's MSE to the targets, per window
  for (int64_t i = 0; i < nl; ++i) {
    streams.inputs(i, x.data());
    block_forward(c, layer, b, rope, x.data(), T, 0, k.data(), v.data(), bs);
    streams.reference(i, target.data());
    double s = 0;
    for (size_t q = 0; q < Td; ++q) s += double(x[q] - target[q]) * (x[q] - target[q]);
    final_loss += s / double(Td);
  }
  if (ranks > 1) final_loss = sum_over_ranks(final_loss);
  return {{"block", layer},
          {"loss", curve},
          {"final_mse", final_loss / double(n)},
          {"parameters", n_params},
          {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()}};
}

MemoryNeed lwc_train_memory(const ModelConfig& c, int64_t windows_here, int seqlen, int group_size,
                            const LwcTrainOptions& opt) {
  const int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim, T = seqlen;
  const int64_t block = d * (2 * q + 2 * kv) + 3 * d * h;  // weights of one block's linears
  auto groups = [&](int64_t in) { return group_size > 0 ? (in + group_size - 1) / group_size : int64_t(1); };
  // (row, group) pairs of the block: q/k/v, o, gate/up, down.
  const int64_t pairs = (q + 2 * kv) * groups(d) + d * groups(q) + 2 * h * groups(d) + d * groups(h);
  MemoryNeed need;
  // The trained copy, the latent weights, the weight gradients (and SliM's GPTQ weights).
  need.add("SliM-LLM+: block copies for training", (opt.weights == "gptq" || opt.init == "slim" ? 4 : 3) * block * 4);
  // γ, β, their gradient, AdamW's two moments, the quantizers' saved state.
  need.add("SliM-LLM+: clipping parameters", 2 * pairs * 4 * 8);
  // One window's saved forward (BlockActs) and backward scratch, attention probabilities included.
  need.add("SliM-LLM+: one window's forward and backward",
           2 * 4 * (T * (6 * d + 4 * q + 4 * kv + 3 * h) + int64_t(c.n_heads) * T * T) + 4 * T * d * 4);
  if (opt.aug_loss) need.add("SliM-LLM+: --aug-loss targets", windows_here * T * d * 4);
  return need;
}

}  // namespace slim
