// trainer_checkpoint.cpp — the trainer's checkpoints: what they hold, writing them, and loading
// them back with every check (the counters' cross-checks, --init-from's strictness).
#include <iomanip>
#include <iostream>
#include <sstream>

#include "io/safetensors.h"
#include "nn/backend.h"
#include "train/trainer.h"

namespace nn::train {

namespace {
constexpr const char* kCheckpointFormat = "gan_train-checkpoint-1";
}  // namespace

std::vector<std::pair<std::string, Tensor>> Trainer::checkpoint_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  auto add_network = [&](const std::string& prefix, const Network& n, const Adam* adam, const std::string& opt) {
    for (const Parameter& p : n.arena.parameters()) out.emplace_back(prefix + p.name, p.tensor);
    for (const Buffer& b : n.arena.buffers()) out.emplace_back(prefix + b.name, b.tensor);
    for (const auto& bn : n.batchnorms) {
      Tensor count = Tensor::zeros({}, DType::I64);  // PyTorch keeps it as an int64 scalar
      count.data<int64_t>()[0] = bn->num_batches_tracked;
      out.emplace_back(prefix + bn->name() + ".num_batches_tracked", count);
    }
    if (!adam) return;
    for (const Parameter& p : n.arena.parameters()) {
      out.emplace_back(opt + p.name + ".exp_avg", ParameterArena::parameter_view(adam->exp_avg(), p));
      out.emplace_back(opt + p.name + ".exp_avg_sq", ParameterArena::parameter_view(adam->exp_avg_sq(), p));
    }
  };
  add_network("generator.", gan_->generator, adam_g_.get(), "optimizer_g.");
  add_network("discriminator.", gan_->discriminator, adam_d_.get(), "optimizer_d.");
  if (ema_) add_network("generator_ema.", ema_->generator, nullptr, "");  // --ema: a state_dict for G too
  return out;
}

void Trainer::save_checkpoint(const std::string& path) const {
  std::map<std::string, std::string> meta = {
      {"format", kCheckpointFormat},
      {"preset", config_.preset},
      {"width", std::to_string(config_.width)},
      {"noise_dim", std::to_string(config_.noise_dim)},
      {"loss", config_.loss},
      {"config", config_to_json(config_)},
      {"step", std::to_string(step_)},
      {"epoch", std::to_string(sampler_ ? step_ / steps_per_epoch() : 0)},
      // The position inside the epoch follows from the step and the batches per epoch: a resume
      // checks it has the same.
      {"batches_per_epoch", std::to_string(sampler_ ? sampler_->batches_per_epoch() : 0)},
      {"adam_g_step", std::to_string(adam_g_->step_count())},
      {"adam_d_step", std::to_string(adam_d_->step_count())},
      {"noise_rng_offset", std::to_string(noise_rng_.offset())},
      {"dropout_rng_offset", std::to_string(gan_->dropout_rng.offset())},
  };
  if (has_best_fid_) {
    std::ostringstream fid;
    fid << std::setprecision(17) << best_fid_;
    meta["best_fid"] = fid.str();
    meta["best_fid_step"] = std::to_string(best_fid_step_);
  }
  io::save_safetensors(path, checkpoint_tensors(), meta);
}

static int64_t meta_int(const io::SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata.find(key);
  NN_CHECK(it != f.metadata.end(), "checkpoint ", f.path, " is corrupt: metadata has no '", key, "'");
  try {
    size_t used = 0;
    long long v = std::stoll(it->second, &used);
    NN_CHECK(used == it->second.size() && v >= 0, "bad");
    return v;
  } catch (const std::exception&) {
    throw_error(str_cat("checkpoint ", f.path, " is corrupt: metadata '", key, "' is not a count: ", it->second));
  }
}

// The counters of a checkpoint advance together (the schedules at the top of this file): each step
// takes one Adam step per network, runs G in training mode once and D three times (dcgan: real,
// fake for D, fake for G) or twice (keras), and every batchnorm counts the batches it saw (from
// where --init-from's weights left it, so at least that many). The epoch is step / batches per
// epoch, and batches per epoch must be this run's, or the position inside the epoch would move.
void Trainer::check_counters(const io::SafetensorsFile& f) const {
  const std::string& path = f.path;
  const int64_t step = meta_int(f, "step"), adam_g = meta_int(f, "adam_g_step"), adam_d = meta_int(f, "adam_d_step");
  const int64_t d = config_.d_steps;
  NN_CHECK(adam_g == step && adam_d / d == step && adam_d % d == 0, "checkpoint ", path, " is inconsistent: step ",
           step, " but Adam steps ", adam_g, " (G) and ", adam_d, " (D); each step takes one Adam step of G and ", d,
           " of D");
  auto check_batchnorms = [&](const std::string& prefix, const Network& n, int64_t forwards_per_step) {
    for (const auto& bn : n.batchnorms) {
      const std::string name = prefix + bn->name() + ".num_batches_tracked";
      const int64_t seen = f.get(name).data<int64_t>()[0];
      NN_CHECK(seen >= 0 && seen / forwards_per_step >= step, "checkpoint ", path, " is inconsistent: ", name, " is ",
               seen, ", fewer than the ", forwards_per_step, " batches per step of ", step, " steps");
    }
  };
  // Training-mode forwards per step: each extra D step (d - 1 of them; all d for sngan) runs G
  // once and D twice; the preset's own step runs G once and D three times (dcgan), twice (keras),
  // or (sngan's G step) once each.
  const bool sngan = config_.preset == "sngan";
  const int64_t extra_d_steps = sngan ? d : d - 1;
  const int64_t g_forwards = extra_d_steps + 1;
  const int64_t d_forwards = 2 * extra_d_steps + (sngan ? 1 : config_.preset == "dcgan" ? 3 : 2);
  check_batchnorms("generator.", gan_->generator, g_forwards);
  check_batchnorms("discriminator.", gan_->discriminator, d_forwards);
  if (sampler_ && f.metadata.count("batches_per_epoch")) {  // (older checkpoints lack it)
    const int64_t theirs = meta_int(f, "batches_per_epoch"), ours = sampler_->batches_per_epoch();
    NN_CHECK(theirs == ours, "checkpoint ", path, " was trained with ", theirs, " batches per epoch; this run has ", ours,
             " (", sampler_->size(), " images at batch ", config_.batch_size,
             "): resuming needs the same data and --train-images");
    NN_CHECK(meta_int(f, "epoch") == step / steps_per_epoch(), "checkpoint ", path, " is inconsistent: step ", step,
             " is in epoch ", step / steps_per_epoch(), ", not ", meta_int(f, "epoch"));
  }
}

void Trainer::load_checkpoint(const std::string& path) {
  io::SafetensorsFile f = io::load_safetensors(path);
  if (!f.verified && !quiet_) std::cout << io::unverified_note(f) << "\n";
  auto meta = [&](const std::string& key) {
    auto it = f.metadata.find(key);
    return it == f.metadata.end() ? std::string("?") : it->second;
  };
  NN_CHECK(meta("format") == kCheckpointFormat, "checkpoint ", path, " is not a gan_train checkpoint (format '",
           meta("format"), "')");
  // The model-defining settings must match, or the tensors cannot fit.
  const std::string theirs = str_cat("preset ", meta("preset"), ", width ", meta("width"), ", noise ",
                                     meta("noise_dim"), ", loss ", meta("loss"));
  const std::string ours = str_cat("preset ", config_.preset, ", width ", config_.width, ", noise ", config_.noise_dim,
                                   ", loss ", config_.loss);
  NN_CHECK(theirs == ours, "checkpoint ", path, " is from another model (", theirs, "); this run is ", ours);
  Config saved = config_from_json(meta("config"));
  NN_CHECK(str_cat("preset ", saved.preset, ", width ", saved.width, ", noise ", saved.noise_dim, ", loss ", saved.loss) ==
               theirs,
           "checkpoint ", path, " is inconsistent: its configuration says preset ", saved.preset, ", width ",
           saved.width, ", noise ", saved.noise_dim, ", loss ", saved.loss, " but its metadata ", theirs);
  NN_CHECK(saved.dtype == config_.dtype, "checkpoint ", path, " was trained with --dtype ", saved.dtype,
           "; resuming needs the same (got --dtype ", config_.dtype, ")");
  NN_CHECK(saved.batch_size == config_.batch_size && saved.seed == config_.seed, "checkpoint ", path,
           " was trained with batch ", saved.batch_size, " and seed ", saved.seed, "; resuming needs the same (got batch ",
           config_.batch_size, ", seed ", config_.seed, ")");
  // The schedule: the lr decay's horizon (epochs) and the EMA's settings must be those of the
  // run, or a resume would not continue the same curve.
  NN_CHECK(saved.lr_decay == config_.lr_decay && (saved.lr_decay == "none" || saved.epochs == config_.epochs) &&
               saved.ema == config_.ema && saved.ema_start == config_.ema_start,
           "checkpoint ", path, " was trained with --lr-decay ", saved.lr_decay, " over ", saved.epochs,
           " epochs, --ema ", saved.ema, " from step ", saved.ema_start, "; resuming needs the same (got --lr-decay ",
           config_.lr_decay, " over ", config_.epochs, " epochs, --ema ", config_.ema, " from step ", config_.ema_start,
           ")");
  NN_CHECK(saved.d_steps == config_.d_steps && saved.spectral_norm == config_.spectral_norm &&
               (saved.ema > 0) == (config_.ema > 0),
           "checkpoint ", path, " was trained with --d-steps ", saved.d_steps, saved.spectral_norm ? ", spectral norm" : "",
           saved.ema > 0 ? ", an EMA generator" : ", no EMA generator", "; resuming needs the same (got --d-steps ",
           config_.d_steps, config_.spectral_norm ? ", --spectral-norm" : "", config_.ema > 0 ? ", --ema" : ", no --ema", ")");

  // Everything is checked before anything is copied: a refused checkpoint leaves the trainer as it was.
  auto tensors = checkpoint_tensors();
  for (const auto& [name, dst] : tensors) {
    NN_CHECK(f.has(name), "checkpoint ", path, " is corrupt: it has no tensor ", name);
    const Tensor& src = f.get(name);
    NN_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), "checkpoint ", path, " is corrupt: tensor ",
             name, " is ", src.str(), ", expected ", dst.str(), " (its configuration says preset ", saved.preset,
             ", width ", saved.width, ", noise ", saved.noise_dim, ")");
  }
  check_counters(f);
  for (auto& [name, dst] : tensors)
    if (dst.dtype() != DType::I64) dst.copy_(f.get(name));
  auto restore_counts = [&](const std::string& prefix, Network& n) {
    for (auto& bn : n.batchnorms) bn->num_batches_tracked = f.get(prefix + bn->name() + ".num_batches_tracked").data<int64_t>()[0];
  };
  restore_counts("generator.", gan_->generator);
  restore_counts("discriminator.", gan_->discriminator);
  if (ema_) restore_counts("generator_ema.", ema_->generator);
  step_ = meta_int(f, "step");
  set_counter(step_device_, step_);
  adam_g_->set_step_count(meta_int(f, "adam_g_step"));
  adam_d_->set_step_count(meta_int(f, "adam_d_step"));
  noise_rng_.set_offset(static_cast<uint64_t>(meta_int(f, "noise_rng_offset")));
  gan_->dropout_rng.set_offset(static_cast<uint64_t>(meta_int(f, "dropout_rng_offset")));
  last_good_step_ = step_;
  if (f.metadata.count("best_fid")) {
    try {
      best_fid_ = std::stod(f.metadata.at("best_fid"));
      has_best_fid_ = true;
    } catch (const std::exception&) {
      throw_error(str_cat("checkpoint ", path, " is corrupt: metadata 'best_fid' is not a number"));
    }
    best_fid_step_ = meta_int(f, "best_fid_step");
  }
  cuda_synchronize();  // the copies above read host buffers that are about to be freed
}

void Trainer::load_weights(const std::string& path) {
  io::SafetensorsFile f = io::load_safetensors(path);
  if (!f.verified && !quiet_) std::cout << io::unverified_note(f) << "\n";
  // Everything load_state_dict(strict=True) would check: no tensor missing, none unexpected.
  std::map<std::string, bool> used;
  for (const auto& [name, tensor] : f.tensors) {
    (void)tensor;
    if (name.rfind("generator.", 0) == 0 || name.rfind("discriminator.", 0) == 0) used[name] = false;
  }
  NN_CHECK(!used.empty(), "--init-from ", path, ": no tensor named generator.* or discriminator.*");
  // The other preset's weights: say so, rather than report the first tensor whose shape differs.
  // A gan_train checkpoint names its preset; a PyTorch state dict shows it by its last generator
  // layer (keras: main.10, dcgan: main.9).
  std::string holds;
  if (auto it = f.metadata.find("config"); it != f.metadata.end()) {
    try {
      holds = config_from_json(it->second).preset;
    } catch (const Error&) {
    }
  } else if (f.has("generator.main.10.weight")) {
    holds = "keras";
  } else if (f.has("generator.main.9.weight")) {
    holds = "dcgan";
  }
  NN_CHECK(holds.empty() || holds == config_.preset, "--init-from ", path, " holds the ", holds,
           " preset's weights, not ", config_.preset, "'s (add --preset ", holds, ")");
  auto load_network = [&](const std::string& prefix, Network& n) {
    auto load = [&](const std::string& name, const Tensor& dst) {
      const std::string key = prefix + name;
      NN_CHECK(f.has(key), "--init-from ", path, ": missing tensor ", key);
      const Tensor& src = f.get(key);
      NN_CHECK(src.shape() == dst.shape() && (src.dtype() == DType::F32 || src.dtype() == DType::F64), "--init-from ",
               path, ": tensor ", key, " is ", src.str(), ", expected ", shape_str(dst.shape()), " float32 or float64");
      dst.copy_(src.dtype() == dst.dtype() ? src : src.to(dst.dtype()));
      used[key] = true;
    };
    for (const Parameter& p : n.arena.parameters()) load(p.name, p.tensor);
    for (const Buffer& b : n.arena.buffers()) load(b.name, b.tensor);
    for (auto& bn : n.batchnorms) {
      const std::string key = prefix + bn->name() + ".num_batches_tracked";
      NN_CHECK(f.has(key) && f.get(key).dtype() == DType::I64 && f.get(key).numel() == 1, "--init-from ", path,
               ": missing int64 scalar ", key);
      bn->num_batches_tracked = f.get(key).data<int64_t>()[0];
      used[key] = true;
    }
  };
  load_network("generator.", gan_->generator);
  load_network("discriminator.", gan_->discriminator);
  for (const auto& [name, was_used] : used)
    NN_CHECK(was_used, "--init-from ", path, ": unexpected tensor ", name, " (not in this model: ",
             config_.preset, ", width ", config_.width, ", noise ", config_.noise_dim, ")");
  cuda_synchronize();  // the copies read host buffers that are about to be freed
}

// The latest checkpoint is always rewritten; every checkpoint_every epochs one is also kept.
void Trainer::write_checkpoints(bool epoch_end) {
  save_checkpoint(latest_checkpoint_path());
  last_good_step_ = step_;
  last_save_ = std::chrono::steady_clock::now();
  const int64_t per_epoch = steps_per_epoch();
  if (epoch_end && (step_ / per_epoch) % config_.checkpoint_every == 0) {
    std::ostringstream name;
    name << config_.out_dir << "/checkpoint_epoch_" << std::setw(3) << std::setfill('0') << step_ / per_epoch
         << ".safetensors";
    save_checkpoint(name.str());
  }
}

}  // namespace nn::train
