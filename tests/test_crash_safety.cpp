// Crash-proof and tamper-evident checkpoints at the trainer's level: damage to a real checkpoint is
// always refused (checksums), crafted counters that disagree are refused (cross-checks),
// --checkpoint-minutes saves inside an epoch and a resume from there is bit-exact, and gan_train
// killed with SIGKILL at random moments leaves only verifiable checkpoints and, resumed, ends
// bit-identical to a run that was never interrupted.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "io/image_folder.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "train/trainer.h"

namespace nn::test {
namespace {

namespace fs = std::filesystem;
using train::Config;
using train::Trainer;
using Bytes = std::vector<uint8_t>;

const std::string kGanTrain = std::string(NN_BINARY_DIR) + "/gan_train";

Bytes read_all(const std::string& path) { return read_file_bytes(path); }
void write_all(const std::string& path, const Bytes& bytes) { write_file_bytes(path, bytes); }

Config tiny_config(const std::string& preset, const std::string& out) {
  Config c = train::preset_defaults(preset);
  c.width = preset == "dcgan" ? 8 : 16;
  c.batch_size = 16;
  c.device = "cpu";
  c.out_dir = out;
  c.log_every = 2;
  c.data_dir = cifar100_dir();
  return c;
}

// A trainer without data, two steps on a fixed batch: a real checkpoint in a fraction of a second.
std::string two_step_checkpoint(const std::string& preset, const TempDir& dir) {
  Trainer t(tiny_config(preset, dir.path().string()), Tensor(), true);
  Generator g(5);
  Tensor real = Tensor::empty({16, 3, 32, 32});
  real.uniform_(g, -1, 1);
  t.train_step(real);
  t.train_step(real);
  const std::string path = dir / (preset + ".safetensors");
  t.save_checkpoint(path);
  return path;
}

// The experiment: 900 damaged variants of a real checkpoint (bit flips in the header
// length, the JSON header, the metadata and the tensor data; truncations; overwritten bytes), each
// given to the trainer's resume. Before checksums, 269 of 900 were accepted without a word.
TEST(CrashSafety, NineHundredDamagedCheckpointsAreAllRefused) {
  TempDir dir("damage");
  const std::string good_path = two_step_checkpoint("keras", dir);
  const Bytes good = read_all(good_path);
  uint64_t header_bytes = 0;
  for (int i = 0; i < 8; ++i) header_bytes |= uint64_t{good[i]} << (8 * i);
  const size_t header_end = 8 + header_bytes;
  const std::string text(good.begin(), good.begin() + static_cast<long>(header_end));
  const size_t meta_begin = text.find("__metadata__"), meta_end = text.find("}", text.find("\"width\""));
  ASSERT_NE(meta_begin, std::string::npos);

  Trainer t(tiny_config("keras", dir.path().string()), Tensor(), true);
  const std::string path = dir / "damaged.safetensors";
  std::mt19937_64 rng(14);
  int accepted = 0;
  std::vector<std::string> kinds_accepted;
  for (int trial = 0; trial < 900; ++trial) {
    Bytes bytes = good;
    const int kind = trial % 6;
    auto flip = [&](size_t lo, size_t hi) { bytes[lo + rng() % (hi - lo)] ^= static_cast<uint8_t>(1u << (rng() % 8)); };
    const char* what = "";
    switch (kind) {
      case 0: what = "header length"; flip(0, 8); break;
      case 1: what = "JSON header"; flip(8, header_end); break;
      case 2: what = "metadata"; flip(meta_begin, std::max(meta_end, meta_begin + 1)); break;
      case 3: what = "tensor data"; flip(header_end, bytes.size()); break;
      case 4: what = "truncation"; bytes.resize(rng() % bytes.size()); break;
      default: what = "overwritten byte"; bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng() | 1); break;
    }
    if (bytes == good) continue;  // an overwrite with the same value is no damage
    write_all(path, bytes);
    try {
      t.load_checkpoint(path);
      ++accepted;
      kinds_accepted.push_back(what);
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(accepted, 0) << "first accepted damage: " << (kinds_accepted.empty() ? "" : kinds_accepted[0]);
  t.load_checkpoint(good_path);  // and the undamaged file still loads
  EXPECT_EQ(t.step(), 2);
}

// Crafted files (valid checksums, written by save_safetensors) whose counters disagree.
TEST(CrashSafety, CheckpointsWhoseCountersDisagreeAreRefused) {
  TempDir dir("counters");
  const std::string good_path = two_step_checkpoint("dcgan", dir);
  const io::SafetensorsFile good = io::load_safetensors(good_path);
  Trainer t(tiny_config("dcgan", dir.path().string()), Tensor(), true);
  auto crafted = [&](const std::map<std::string, std::string>& meta_changes, const std::string& tensor = "",
                     int64_t tensor_value = 0) {
    auto meta = good.metadata;
    for (const auto& [k, v] : meta_changes) meta[k] = v;
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& [name, value] : good.tensors) {
      if (name == tensor) {
        Tensor changed = Tensor::zeros({}, DType::I64);
        changed.data<int64_t>()[0] = tensor_value;
        tensors.emplace_back(name, changed);
      } else {
        tensors.emplace_back(name, value);
      }
    }
    static int made = 0;
    const std::string path = dir / ("crafted_" + std::to_string(made++) + ".safetensors");
    io::save_safetensors(path, tensors, meta);
    return path;
  };
  struct Case {
    std::string what, expect;
    std::string path;
  };
  const std::vector<Case> cases = {
      {"step 0", "inconsistent: step 0 but Adam steps 2", crafted({{"step", "0"}})},
      {"step 1000", "inconsistent: step 1000", crafted({{"step", "1000"}})},
      {"step INT64_MAX", "inconsistent: step 9223372036854775807", crafted({{"step", "9223372036854775807"}})},
      {"an Adam step of 999999999", "Adam steps 999999999", crafted({{"adam_g_step", "999999999"}})},
      {"a width that disagrees", "another model", crafted({{"width", "16"}})},
      {"a configuration that disagrees with the metadata", "its configuration says",
       crafted({{"config", train::config_to_json([] {
                   Config c = train::preset_defaults("dcgan");
                   c.width = 16;
                   return c;
                 }())}})},
      {"a batchnorm that saw fewer batches", "discriminator.main.3.num_batches_tracked is 5",
       crafted({}, "discriminator.main.3.num_batches_tracked", 5)},
  };
  const auto before = t.checkpoint_tensors();
  std::vector<std::vector<double>> before_values;
  for (const auto& [name, tensor] : before) before_values.push_back(tensor.to_vector());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    expect_error_containing([&] { t.load_checkpoint(c.path); }, {c.path, c.expect});
  }
  // Refused before anything was copied: the trainer is as it was.
  EXPECT_EQ(t.step(), 0);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].second.to_vector(), before_values[i]) << before[i].first;
}

TEST(CrashSafety, AnotherEpochLengthIsRefusedOnResume) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("epochlen");
  Config c = tiny_config("dcgan", dir.path().string());
  c.train_images = 64;  // 4 batches per epoch
  c.max_steps = 2;
  Trainer(c, true).run();
  Config other = c;
  other.train_images = 128;  // 8 batches per epoch: step 2 would be another place in another epoch
  other.resume = "auto";
  expect_error_containing([&] { Trainer t(other, true); }, {"trained with 4 batches per epoch; this run has 8"});
}

// --checkpoint-minutes: a save between steps inside an epoch, and a resume from it that is
// bit-exact. The observer sees each step while it runs, so at step 4 it copies the latest
// checkpoint, which a timed save (every step here) wrote after step 3, mid-epoch.
TEST(CrashSafety, TimedSavesInsideAnEpochResumeBitExact) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir straight_dir("timed_straight"), timed_dir("timed"), resumed_dir("timed_resumed");
  Config c = tiny_config("keras", straight_dir.path().string());
  c.train_images = 160;  // 10 batches per epoch: every step below is inside the first epoch
  c.max_steps = 6;
  c.checkpoint_minutes = 0;
  Trainer straight(c, true);
  ASSERT_EQ(straight.run(), train::kExitOk);

  Config timed = c;
  timed.out_dir = timed_dir.path().string();
  timed.checkpoint_minutes = 1e-9;  // due after every step
  timed.max_steps = 4;
  Trainer t(timed, true);
  const std::string copy = resumed_dir / "checkpoint_latest.safetensors";
  bool copied = false;
  t.set_observer([&](const std::string& name, const Tensor&) {
    if (name == "loss_d" && t.step() == 3 && !copied) {  // during step 4 (step() counts finished steps)
      fs::copy_file(t.latest_checkpoint_path(), copy);
      copied = true;
    }
  });
  ASSERT_EQ(t.run(), train::kExitOk);
  ASSERT_TRUE(copied);
  EXPECT_EQ(io::load_safetensors(copy).metadata.at("step"), "3") << "the timed save after step 3";
  fs::copy_file(timed_dir / "metrics.csv", resumed_dir / "metrics.csv");

  Config resumed = c;
  resumed.out_dir = resumed_dir.path().string();
  resumed.resume = "auto";
  Trainer r(resumed, true);
  EXPECT_EQ(r.step(), 3);
  ASSERT_EQ(r.run(), train::kExitOk);
  const auto a = straight.checkpoint_tensors(), b = r.checkpoint_tensors();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].second.to_vector(), b[i].second.to_vector()) << a[i].first;
}

// A leftover temporary file is removed, never written through: a FIFO there would block the
// write, a symbolic link would send the bytes elsewhere.
TEST(CrashSafety, ALeftoverTemporaryFileIsReplacedNotWrittenThrough) {
  TempDir dir("leftover");
  const std::string path = dir / "ckpt.safetensors", tmp = path + ".tmp", elsewhere = dir / "elsewhere";
  write_all(elsewhere, {1, 2, 3});
  fs::create_symlink(elsewhere, tmp);
  io::save_safetensors(path, {{"x", Tensor::ones({2})}});
  EXPECT_EQ(read_all(elsewhere), (Bytes{1, 2, 3})) << "the link's target was written";
  EXPECT_FALSE(fs::exists(fs::symlink_status(tmp)));
  ASSERT_EQ(mkfifo(tmp.c_str(), 0644), 0);
  io::save_safetensors(path, {{"x", Tensor::zeros({3})}});  // would block forever on the FIFO
  EXPECT_EQ(io::load_safetensors(path).get("x").numel(), 3);
  EXPECT_FALSE(fs::exists(fs::symlink_status(tmp)));
}

// Found by fuzz_image_folder: a 400-byte PNG whose IDAT length field claims 670 MB made the
// decoder allocate hundreds of megabytes (and take seconds) before failing. The structure is now
// checked first: the file is refused at once, naming the chunk.
TEST(CrashSafety, APngWhoseChunkLengthLiesIsRefusedBeforeDecoding) {
  TempDir dir("png_lie");
  std::vector<uint8_t> pixels(32 * 32 * 3, 128);
  io::write_png_rgb(dir / "a.png", 32, 32, pixels);
  Bytes bytes = read_all(dir / "a.png");
  const size_t ihdr_end = 8 + 12 + 13;  // signature, then IHDR: the next chunk's length field
  bytes[ihdr_end] = 0x28;               // 0x28xxxxxx: about 670 million bytes
  write_all(dir / "a.png", bytes);
  expect_error_containing([&] { io::read_png_folder(dir.path().string(), 32, 32); },
                          {"a.png", "is corrupt", "more than the file holds"});
  // A header declaring another size is refused from the header, before any decoding.
  io::write_png_rgb(dir / "a.png", 64, 16, std::vector<uint8_t>(64 * 16 * 3, 7));
  expect_error_containing([&] { io::read_png_folder(dir.path().string(), 32, 32); }, {"is 64x16, expected 32x32"});
}

// ------------------------------------------------------------------ gan_train, as a user runs it

RunResult run_gan_train(const std::string& args) { return run_command(kGanTrain + " " + args + " 2>&1"); }

// One flipped bit in the tensor data: the resume stops with one line naming the tensor, where it
// used to train on from the damaged weights. The same file without its checksums (as another
// writer would leave it) loads, with a line saying it is unverified.
TEST(CrashSafety, GanTrainRefusesADamagedCheckpointAndNotesAnUnverifiedOne) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("gt_damage");
  const std::string flags = "--device cpu --width 8 --batch-size 16 --train-images 64 --data " + cifar100_dir();
  RunResult r = run_gan_train(flags + " --out " + (dir / "a") + " --max-steps 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string ckpt = dir / "a/checkpoint_latest.safetensors";
  Bytes bytes = read_all(ckpt);
  uint64_t header_bytes = 0;
  for (int i = 0; i < 8; ++i) header_bytes |= uint64_t{bytes[i]} << (8 * i);
  Bytes damaged = bytes;
  damaged[8 + header_bytes + 1000] ^= 0x04;
  write_all(dir / "damaged.safetensors", damaged);
  r = run_gan_train(flags + " --out " + (dir / "b") + " --max-steps 4 --resume " + (dir / "damaged.safetensors"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("fails its checksum"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tensor '"), std::string::npos) << r.output;

  // The header without the three checksum entries, the data as it was.
  nlohmann::ordered_json header = nlohmann::ordered_json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(header_bytes));
  for (const char* key : {"nn.checksum.algorithm", "nn.checksum.tensors", "nn.checksum.header"})
    header["__metadata__"].erase(key);
  const std::string text = header.dump();
  Bytes plain;
  for (int i = 0; i < 8; ++i) plain.push_back(static_cast<uint8_t>(uint64_t{text.size()} >> (8 * i)));
  plain.insert(plain.end(), text.begin(), text.end());
  plain.insert(plain.end(), bytes.begin() + 8 + static_cast<long>(header_bytes), bytes.end());
  write_all(dir / "plain.safetensors", plain);
  r = run_gan_train(flags + " --out " + (dir / "c") + " --max-steps 3 --resume " + (dir / "plain.safetensors"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("has no checksums (written by PyTorch or an older gan_train): its contents are unverified"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(io::load_safetensors(dir / "c/checkpoint_latest.safetensors").verified) << "what it writes has checksums";
}

// ------------------------------------------------------------------ SIGKILL at random moments

std::map<std::string, Bytes> tensor_bytes_of(const std::string& path) {
  std::map<std::string, Bytes> out;
  for (const auto& [name, t] : io::load_safetensors(path).tensors) {
    const auto* p = static_cast<const uint8_t*>(t.raw());
    out[name] = Bytes(p, p + t.nbytes());
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Starts gan_train with `args` (output to /dev/null); returns its pid.
pid_t spawn_gan_train(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    std::vector<char*> argv = {const_cast<char*>("gan_train")};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(kGanTrain.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

TEST(CrashSafety, SigkillAtRandomMomentsResumesBitIdentical) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("sigkill");
  const std::string straight = dir / "straight", killed = dir / "killed";
  // 4 steps per epoch, 40 epochs (about 4 s in all); the latest checkpoint rewritten after every step (--checkpoint-minutes of 60 us).
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"--device", "cpu", "--width", "8", "--batch-size", "16", "--train-images", "64",
                                    "--epochs", "40", "--checkpoint-minutes", "0.000001", "--checkpoint-every", "2",
                                    "--log-every", "3", "--threads", "1", "--data", cifar100_dir(), "--out", out,
                                    "--resume", "auto"};
  };
  int status = 0;
  pid_t pid = spawn_gan_train(args(straight));
  ASSERT_GT(pid, 0);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the uninterrupted run failed";

  std::mt19937 rng(7);
  int kills = 0, runs = 0, torn_writes = 0;
  bool finished = false;
  const int kMaxKills = 30;
  while (!finished && runs < kMaxKills + 5) {
    ++runs;
    pid = spawn_gan_train(args(killed));
    ASSERT_GT(pid, 0);
    bool reaped = false;  // waitpid already collected its status
    if (kills < kMaxKills) {
      // Anywhere from start-up (reading train.bin) to the last steps and their checkpoint writes.
      std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 600));
      reaped = waitpid(pid, &status, WNOHANG) == pid;
      if (!reaped) {
        kill(pid, SIGKILL);
        ++kills;
      }
    }
    if (!reaped) waitpid(pid, &status, 0);
    // A .tmp left behind by a killed run: the kill landed inside a checkpoint write.
    if (WIFSIGNALED(status)) torn_writes += fs::exists(killed + "/checkpoint_latest.safetensors.tmp");
    finished = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!finished) {
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "a run failed on its own";
    }
    // Whatever the moment, every checkpoint on disk verifies (a torn one would be under .tmp).
    if (!fs::exists(killed)) continue;  // killed before it made its output folder
    for (const auto& entry : fs::directory_iterator(killed)) {
      const std::string p = entry.path().string();
      if (entry.path().extension() == ".safetensors") {
        SCOPED_TRACE(p);
        EXPECT_NO_THROW({
          const io::SafetensorsFile f = io::load_safetensors(p);
          EXPECT_TRUE(f.verified);
        });
      }
    }
  }
  ASSERT_TRUE(finished);
  EXPECT_GE(kills, 10) << "too few kills landed before the run ended";
  std::cout << "[ killed  ] " << kills << " SIGKILLs over " << runs << " runs, " << torn_writes
            << " of them inside a checkpoint write\n";
  for (const char* name : {"checkpoint_latest.safetensors", "checkpoint_epoch_040.safetensors"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(tensor_bytes_of(straight + "/" + name), tensor_bytes_of(killed + "/" + name));
  }
  EXPECT_EQ(read_text(straight + "/metrics.csv"), read_text(killed + "/metrics.csv"));
}

}  // namespace
}  // namespace nn::test
