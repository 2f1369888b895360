// gan_train on the real CIFAR-100 files, on the CPU, at small widths: training moves, outputs
// are written, checkpoints load back exactly, N straight steps equal N/2 + resume + N/2 bit for
// bit, and every user error gives its message and exit code. Skips (saying how to fetch the
// data) when data/cifar-100-binary is absent; tools/test.sh fetches it first.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "io/safetensors.h"
#include "test_util.h"
#include "trainer_state.h"
#include "train/trainer.h"

namespace nn::test {
namespace {

namespace fs = std::filesystem;
using train::Config;
using train::Trainer;

const std::string kDataDir = cifar100_dir();
const std::string kGanTrain = std::string(NN_BINARY_DIR) + "/gan_train";

Config small_config(const std::string& preset, const std::string& out) {
  Config c = train::preset_defaults(preset);
  c.width = preset == "dcgan" ? 8 : 16;
  c.batch_size = 16;
  c.data_dir = kDataDir;
  c.out_dir = out;
  c.device = "cpu";
  c.log_every = 2;
  return c;
}

// All weights, running statistics, counters and Adam moments of a trainer, by name.
void trains_and_writes_outputs(const std::string& preset) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir(preset + "_smoke");
  Config c = small_config(preset, dir.path().string());
  c.max_steps = 6;
  Trainer trainer(c, /*quiet=*/true);
  ASSERT_EQ(trainer.run(), train::kExitOk);
  EXPECT_EQ(trainer.step(), 6);
  auto rows = read_metrics(dir / "metrics.csv");
  ASSERT_EQ(rows.size(), 6u);
  for (const auto& r : rows)
    for (double v : r) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NE(rows.front()[2], rows.back()[2]) << "loss_D did not move";
  EXPECT_NE(rows.front()[3], rows.back()[3]) << "loss_G did not move";
  EXPECT_GT(fs::file_size(dir / "real_samples.png"), 100u);
  EXPECT_GT(fs::file_size(dir / "loss_curves.png"), 100u);
  ASSERT_TRUE(fs::exists(trainer.latest_checkpoint_path()));
  // The PNG is a real PNG.
  std::ifstream png(dir / "real_samples.png", std::ios::binary);
  char sig[8];
  png.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
}

TEST(Trainer, DcganTrainsOnRealDataAndWritesOutputs) { trains_and_writes_outputs("dcgan"); }
TEST(Trainer, KerasTrainsOnRealDataAndWritesOutputs) { trains_and_writes_outputs("keras"); }

TEST(Trainer, EpochsWriteSampleGridsAndKeptCheckpoints) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("epochs");
  Config c = small_config("dcgan", dir.path().string());
  c.train_images = 64;  // 4 batches of 16 per epoch
  c.epochs = 2;
  c.checkpoint_every = 1;
  Trainer t(c, true);
  ASSERT_EQ(t.run(), train::kExitOk);
  EXPECT_EQ(t.step(), 8);
  for (const char* f : {"samples_epoch_000.png", "samples_epoch_001.png", "checkpoint_epoch_001.safetensors",
                        "checkpoint_epoch_002.safetensors", "checkpoint_latest.safetensors"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  // The sample grid is 8x8 images of 32x32 with 2-pixel padding: 8 * 34 + 2 = 274 pixels square.
  std::ifstream png(dir / "samples_epoch_001.png", std::ios::binary);
  unsigned char header[24];
  png.read(reinterpret_cast<char*>(header), 24);
  const int width = (header[16] << 24) | (header[17] << 16) | (header[18] << 8) | header[19];
  const int height = (header[20] << 24) | (header[21] << 16) | (header[22] << 8) | header[23];
  EXPECT_EQ(width, 274);
  EXPECT_EQ(height, 274);
}

TEST(Trainer, CheckpointLoadsBackToIdenticalTensors) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("roundtrip");
  Config c = small_config("keras", dir.path().string());
  c.max_steps = 2;
  Trainer a(c, true);
  a.run();
  auto saved = state_of(a);
  Trainer b(c, true);  // fresh initialisation: different from a's trained state
  EXPECT_NE(state_of(b), saved);
  b.load_checkpoint(a.latest_checkpoint_path());
  EXPECT_EQ(state_of(b), saved);
  EXPECT_EQ(b.step(), 2);
}

// DESIGN.md / the trainer issue: N steps straight == N/2, checkpoint, resume, N/2 (bitwise, CPU).
// On the GPU the same holds with --deterministic (cuDNN algorithms chosen by heuristics among the
// deterministic ones, so both runs pick the same).
void resume_is_exact(const std::string& preset, const std::string& device = "cpu") {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir straight_dir(preset + "_straight"), split_dir(preset + "_split");
  Config straight = small_config(preset, straight_dir.path().string());
  straight.device = device;
  straight.deterministic = device == "cuda";
  straight.max_steps = 6;
  Trainer a(straight, true);
  a.run();

  Config first_half = small_config(preset, split_dir.path().string());
  first_half.device = straight.device;
  first_half.deterministic = straight.deterministic;
  first_half.max_steps = 3;
  Trainer(first_half, true).run();
  Config second_half = first_half;
  second_half.max_steps = 6;
  second_half.resume = "auto";
  Trainer b(second_half, true);
  EXPECT_EQ(b.step(), 3);
  b.run();
  EXPECT_EQ(b.step(), 6);
  auto sa = state_of(a), sb = state_of(b);
  for (auto& [name, values] : sa) EXPECT_EQ(values, sb[name]) << name << " differs after resume";
  EXPECT_EQ(read_metrics(straight_dir / "metrics.csv"), read_metrics(split_dir / "metrics.csv"));
}

TEST(Trainer, DcganResumeIsBitExact) { resume_is_exact("dcgan"); }
TEST(Trainer, KerasResumeIsBitExact) { resume_is_exact("keras"); }
TEST(TrainerCuda, DcganDeterministicResumeIsBitExact) {
  NN_SKIP_WITHOUT_CUDA();
  resume_is_exact("dcgan", "cuda");
}
TEST(TrainerCuda, KerasDeterministicResumeIsBitExact) {
  NN_SKIP_WITHOUT_CUDA();
  resume_is_exact("keras", "cuda");
}

// --cuda-graph on: the step captured after the warm-up and replayed gives the eager run's bits
// (weights, batchnorm statistics and counters, both Adam states, metrics.csv), across epoch
// ends (a new order uploaded, sample grids and checkpoints written between replays), with
// --deterministic so that both runs pick the same cuDNN algorithms. The GPU check runs the same
// comparison through gan_train for 50 steps (its graph stage).
void graph_replay_is_exact(const std::string& preset) {
  NN_SKIP_WITHOUT_CUDA();
  NN_SKIP_WITHOUT_CIFAR();
  TempDir eager_dir(preset + "_eager"), graph_dir(preset + "_graph");
  Config eager = small_config(preset, eager_dir.path().string());
  eager.device = "cuda";
  eager.deterministic = true;
  eager.train_images = preset == "sngan" ? 160 : 64;  // several epochs in the run
  eager.max_steps = 12;
  eager.log_every = 4;
  if (preset == "sngan") {  // the EMA switches from copying to averaging during the replays
    eager.ema = 0.999;
    eager.ema_start = 5;
  }
  Config graph = eager;
  graph.out_dir = graph_dir.path().string();
  graph.cuda_graph = "on";
  Trainer a(eager, true), b(graph, true);
  ASSERT_EQ(a.run(), train::kExitOk);
  ASSERT_EQ(b.run(), train::kExitOk);
  EXPECT_TRUE(b.step_graph_ready()) << "the step was not captured";
  EXPECT_GT(b.step_graph_kernels(), 20);
  EXPECT_EQ(b.step(), a.step());
  auto sa = state_of(a), sb = state_of(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (auto& [name, v] : sa) EXPECT_EQ(v, sb[name]) << name << " differs between the eager and the replayed run";
  EXPECT_EQ(read_metrics(eager_dir / "metrics.csv"), read_metrics(graph_dir / "metrics.csv"));
}

TEST(TrainerCuda, DcganGraphReplayIsBitIdenticalToEager) { graph_replay_is_exact("dcgan"); }
TEST(TrainerCuda, KerasGraphReplayIsBitIdenticalToEager) { graph_replay_is_exact("keras"); }
TEST(TrainerCuda, SnganGraphReplayIsBitIdenticalToEager) { graph_replay_is_exact("sngan"); }


// ------------------------------------------------------------------ the binary, as a user runs it

RunResult run_gan_train(const std::string& args) { return run_command(kGanTrain + " " + args + " 2>&1"); }

std::string small_flags(const std::string& out) {
  return "--device cpu --width 8 --batch-size 16 --data " + kDataDir + " --out " + out;
}

// --eval-every without the Inception weights: one line says so (and how to get them), training
// goes on to the end, exit 0, and no best-FID checkpoint appears.
TEST(GanTrainEval, WithoutInceptionWeightsSaysSoOnceAndTrainsOn) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("eval_off");
  RunResult r = run_gan_train(small_flags(dir.path().string()) + " --train-images 32 --epochs 2 --eval-every 1 " +
                              "--inception-weights " + (dir / "no_such_weights.safetensors"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  size_t first = r.output.find("FID off:");
  ASSERT_NE(first, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("FID off:", first + 1), std::string::npos) << "said more than once:\n" << r.output;
  const std::string line = r.output.substr(first, r.output.find('\n', first) - first);
  EXPECT_NE(line.find("no_such_weights.safetensors"), std::string::npos) << line;
  EXPECT_NE(line.find("convert_inception.py"), std::string::npos) << line;
  EXPECT_TRUE(fs::exists(dir / "checkpoint_epoch_002.safetensors") || fs::exists(dir / "checkpoint_latest.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "checkpoint_best_fid.safetensors"));
  EXPECT_EQ(read_metrics(dir / "metrics.csv").size(), 4u);
}

TEST(GanTrainErrors, CudaGraphNeedsCudaAndOnOrOff) {
  RunResult r = run_gan_train("--cuda-graph on --device cpu");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--cuda-graph on replays the step as a CUDA graph: it needs --device cuda"),
            std::string::npos)
      << r.output;
  r = run_gan_train("--cuda-graph maybe");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--cuda-graph must be on or off"), std::string::npos) << r.output;
}

TEST(GanTrainErrors, UnknownFlagAndBadValue) {
  RunResult r = run_gan_train("--no-such-flag");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("gan_train: error:"), std::string::npos) << r.output;
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--lr -1", "--lr must be in (0, 1]"},
           {"--eval-every -1", "--eval-every must be >= 0"},
           {"--eval-reference valid", "--eval-reference must be train or test"},
           {"--dtype float16", "--dtype must be float32 or float64"},
           {"--dtype float64", "--dtype float64 runs on the CPU only"}}) {
    r = run_gan_train(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << ": " << r.output;
  }
  r = run_gan_train("--preset nope");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown preset"), std::string::npos) << r.output;
  r = run_gan_train("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--batch-size"), std::string::npos);
}

TEST(GanTrainErrors, MissingDatasetSaysHowToFetch) {
  TempDir dir("nodata");
  RunResult r = run_gan_train("--device cpu --data " + (dir / "missing") + " --out " + (dir / "out"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("tools/fetch_cifar100.sh"), std::string::npos) << r.output;
}

TEST(GanTrainErrors, UnwritableOutputFolder) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("unwritable");
  std::ofstream(dir / "a_file") << "x";  // a folder cannot be made under a regular file (root too)
  RunResult r = run_gan_train(small_flags(dir / "a_file/out") + " --max-steps 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("output folder"), std::string::npos) << r.output;
}

TEST(GanTrainErrors, CorruptTruncatedOrForeignCheckpoint) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("badckpt");
  std::ofstream(dir / "garbage.safetensors") << "this is not a checkpoint";
  RunResult r = run_gan_train(small_flags(dir / "out") + " --max-steps 1 --resume " + (dir / "garbage.safetensors"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("corrupt"), std::string::npos) << r.output;

  // A real checkpoint, then truncated.
  r = run_gan_train(small_flags(dir / "good") + " --max-steps 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string ckpt = dir / "good/checkpoint_latest.safetensors";
  fs::copy_file(ckpt, dir / "cut.safetensors");
  fs::resize_file(dir / "cut.safetensors", fs::file_size(ckpt) / 2);
  r = run_gan_train(small_flags(dir / "out") + " --max-steps 2 --resume " + (dir / "cut.safetensors"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("corrupt"), std::string::npos) << r.output;

  // The good checkpoint into a run of another width.
  r = run_gan_train("--device cpu --width 16 --batch-size 16 --data " + kDataDir + " --out " + (dir / "other") +
                    " --max-steps 2 --resume " + ckpt);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("another model"), std::string::npos) << r.output;
}

TEST(GanTrainErrors, DivergedLossStopsAndKeepsTheCheckpoint) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("nan");
  // Absurd learning rates are refused now, so the run starts from absurd weights instead: the
  // initial weights with D's first convolution scaled by 1e40 (some overflow to inf already), whose outputs are
  // then inf and NaN through batchnorm in the first step, while BCE's clamp keeps the losses finite.
  const std::string init = dir / "init.safetensors", huge = dir / "huge.safetensors";
  RunResult w = run_gan_train(small_flags(dir / "w") + " --write-init " + init);
  ASSERT_EQ(w.exit_code, 0) << w.output;
  io::SafetensorsFile f = io::load_safetensors(init);
  std::vector<std::pair<std::string, Tensor>> weights;
  for (auto& [name, t] : f.tensors) {
    if (name.rfind("generator.", 0) != 0 && name.rfind("discriminator.", 0) != 0) continue;
    weights.emplace_back(name, name == "discriminator.main.0.weight" ? mul_scalar(t, 1e40) : t);
  }
  io::save_safetensors(huge, weights);
  RunResult r = run_gan_train(small_flags(dir / "out") + " --init-from " + huge + " --log-every 1 --max-steps 50");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("became"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("at step"), std::string::npos) << r.output;
}

void stop_signal_finishes_the_step_and_checkpoints(int sig, int expected_exit) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("signal" + std::to_string(sig));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string out = dir / "out";
    freopen("/dev/null", "w", stdout);
    execl(kGanTrain.c_str(), "gan_train", "--device", "cpu", "--width", "8", "--batch-size", "16", "--data",
          kDataDir.c_str(), "--out", out.c_str(), "--log-every", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until training has started (metrics.csv has a step row), then ask it to stop. Lines are
  // counted without read_metrics' checks: the file may be caught mid-write (empty header).
  const std::string csv = dir / "out/metrics.csv";
  auto lines = [&] {
    std::ifstream in(csv);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) n += !line.empty();
    return n;
  };
  for (int i = 0; i < 600 && lines() < 2; ++i) usleep(50 * 1000);
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), expected_exit);
  const std::string ckpt = dir / "out/checkpoint_latest.safetensors";
  ASSERT_TRUE(fs::exists(ckpt));
  io::SafetensorsFile f = io::load_safetensors(ckpt);  // complete and readable
  EXPECT_GE(std::stoll(f.metadata.at("step")), 1);
}

TEST(GanTrainErrors, SigtermFinishesTheStepAndWritesACheckpoint) {
  stop_signal_finishes_the_step_and_checkpoints(SIGTERM, 143);
}
TEST(GanTrainErrors, SigintFinishesTheStepAndWritesACheckpoint) {
  stop_signal_finishes_the_step_and_checkpoints(SIGINT, 130);
}

TEST(GanSample, WritesAGridAndAnInterpolationStrip) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("sample");
  RunResult r = run_gan_train(small_flags(dir / "run") + " --max-steps 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string sampler = std::string(NN_BINARY_DIR) + "/gan_sample";
  const std::string ckpt = dir / "run/checkpoint_latest.safetensors";
  auto png_size = [](const std::string& path) {
    std::ifstream png(path, std::ios::binary);
    unsigned char h[24] = {};
    png.read(reinterpret_cast<char*>(h), 24);
    return std::make_pair((h[16] << 24) | (h[17] << 16) | (h[18] << 8) | h[19],
                          (h[20] << 24) | (h[21] << 16) | (h[22] << 8) | h[23]);
  };
  ASSERT_EQ(std::system((sampler + " --checkpoint " + ckpt + " --count 16 --nrow 4 --seed 3 --out " +
                         (dir / "grid.png") + " > /dev/null").c_str()), 0);
  EXPECT_EQ(png_size(dir / "grid.png"), std::make_pair(4 * 34 + 2, 4 * 34 + 2));
  ASSERT_EQ(std::system((sampler + " --checkpoint " + ckpt + " --interpolate --steps 6 --out " +
                         (dir / "strip.png") + " > /dev/null").c_str()), 0);
  EXPECT_EQ(png_size(dir / "strip.png"), std::make_pair(6 * 34 + 2, 34 + 2));
  // The same seed gives the same image; a corrupt checkpoint gives an error and exit 1.
  ASSERT_EQ(std::system((sampler + " --checkpoint " + ckpt + " --count 16 --nrow 4 --seed 3 --out " +
                         (dir / "grid2.png") + " > /dev/null").c_str()), 0);
  std::ifstream a(dir / "grid.png", std::ios::binary), b(dir / "grid2.png", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
  std::ofstream(dir / "bad.safetensors") << "junk";
  int status = std::system((sampler + " --checkpoint " + (dir / "bad.safetensors") + " 2> /dev/null").c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

// A --dtype float64 run's checkpoint samples like any other: gan_sample draws in float32.
TEST(GanSample, SamplesAFloat64Checkpoint) {
  TempDir dir("sample_f64");
  Config c = small_config("dcgan", dir.path().string());
  c.dtype = "float64";
  Trainer t(c, Tensor(), true);
  t.train_step(rand_tensor({c.batch_size, 3, 32, 32}, 3));  // a float64 batch in [-1, 1)
  const std::string ckpt = dir / "f64.safetensors";
  t.save_checkpoint(ckpt);
  const std::string sampler = std::string(NN_BINARY_DIR) + "/gan_sample";
  ASSERT_EQ(std::system((sampler + " --checkpoint " + ckpt + " --count 4 --nrow 2 --out " + (dir / "grid.png") +
                         " > /dev/null")
                            .c_str()),
            0);
  EXPECT_GT(fs::file_size(dir / "grid.png"), 100u);
}

// Resuming needs the precision the checkpoint was trained in, and says so.
TEST(Trainer, ResumeWithAnotherDtypeSaysSo) {
  TempDir dir("dtype_resume");
  Config c = small_config("keras", dir.path().string());
  c.dtype = "float64";
  Trainer f64(c, Tensor(), true);
  const std::string ckpt = dir / "f64.safetensors";
  f64.save_checkpoint(ckpt);
  c.dtype = "float32";
  Trainer f32(c, Tensor(), true);
  expect_error_containing([&] { f32.load_checkpoint(ckpt); }, {"was trained with --dtype float64", "needs the same"});
}

// A trainer driven by hand (train_step without run()) may take more steps than its metrics buffer
// holds: it keeps the last log_every rows instead of failing.
TEST(Trainer, TrainStepWithoutRunKeepsGoing) {
  TempDir dir("by_hand");
  Config c = small_config("dcgan", dir.path().string());  // log_every 2
  Trainer t(c, Tensor(), true);
  for (int i = 0; i < 5; ++i) t.train_step(rand_tensor({c.batch_size, 3, 32, 32}, 10 + i).to(DType::F32));
  EXPECT_EQ(t.step(), 5);
}

// A fresh run into a used folder drops the last run's evaluations and best-FID model.
TEST(Trainer, FreshRunClearsTheLastRunsEvaluations) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("fresh_eval");
  Config c = small_config("dcgan", dir.path().string());
  c.max_steps = 1;
  std::ofstream(dir / "eval.csv") << "step,epoch,fid,is_mean,is_std,seconds,protocol\n7,0,1,1,0,1,\"old\"\n";
  std::ofstream(dir / "checkpoint_best_fid.safetensors") << "old";
  Trainer t(c, true);
  ASSERT_EQ(t.run(), train::kExitOk);
  EXPECT_FALSE(fs::exists(dir / "eval.csv"));
  EXPECT_FALSE(fs::exists(dir / "checkpoint_best_fid.safetensors"));
}

// gan_train --data on a slice of the official file (tools/gpu_bundle.sh cuts one for the GPU
// machine): it trains, and the start block says how many images the slice has and that it is
// not the official set.
TEST(GanTrain, TrainsOnASliceAndSaysItIsOne) {
  NN_SKIP_WITHOUT_FULL_CIFAR();
  TempDir data("slice_data"), out("slice_out");
  {
    std::ifstream in(kDataDir + "/train.bin", std::ios::binary);
    std::vector<char> bytes(static_cast<size_t>(640 * 3074));
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(in.good());
    std::ofstream o(data / "train.bin", std::ios::binary);
    o.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(o.good());
  }
  RunResult r = run_gan_train("--device cpu --width 8 --batch-size 16 --max-steps 3 --log-every 1 --data " +
                              data.path().string() + " --out " + out.path().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("640 images, 40 batches per epoch"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("a CIFAR-100 slice of 640 of the official 50000 training images, not the official set"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(out / "checkpoint_latest.safetensors"));
}

// --threads sets the CPU thread count (the start block says it and the libraries), and a CPU
// run says after its first steps how long an epoch will take; a bad count is a usage error.
TEST(GanTrain, ThreadsOptionAndEpochTimeOnTheCpu) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir out("threads_out");
  RunResult r = run_gan_train(small_flags(out.path().string()) + " --threads 1 --max-steps 6 --log-every 2 --train-images 320");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cpu (1 thread; matrix products: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("time per epoch: about "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("x 20 steps, from the first steps on 1 CPU thread)"), std::string::npos) << r.output;
  RunResult bad = run_gan_train(small_flags(out.path().string()) + " --threads -3 --max-steps 1");
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  EXPECT_NE(bad.output.find("--threads must be between 1 and 1024"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// The naming contract (README, "The two presets"): a preset's tensor names are a fixed function of
// the preset, whatever the options that change a layer, so checkpoints move to and from the
// PyTorch models with strict=True. Parameters and batchnorm buffers of both networks.
std::set<std::string> network_names(const Config& c) {
  Trainer t(c, Tensor(), /*quiet=*/true);
  std::set<std::string> names;
  for (auto& [name, tensor] : t.checkpoint_tensors())
    if (name.rfind("generator.", 0) == 0 || name.rfind("discriminator.", 0) == 0) names.insert(name);
  return names;
}

std::set<std::string> expected_names(const std::vector<std::string>& g_params, const std::vector<std::string>& g_bn,
                                     const std::vector<std::string>& d_params, const std::vector<std::string>& d_bn) {
  std::set<std::string> out;
  for (const auto& p : g_params) out.insert("generator." + p);
  for (const auto& p : d_params) out.insert("discriminator." + p);
  for (const auto& [prefix, bns] : {std::pair{std::string("generator."), g_bn}, {std::string("discriminator."), d_bn}})
    for (const auto& b : bns)
      for (const char* f : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
        out.insert(prefix + b + "." + f);
  return out;
}

TEST(Naming, TensorNamesAreAFunctionOfThePresetAlone) {
  const std::set<std::string> dcgan = expected_names({"main.0.weight", "main.3.weight", "main.6.weight", "main.9.weight"},
                                                     {"main.1", "main.4", "main.7"},
                                                     {"main.0.weight", "main.2.weight", "main.5.weight", "main.8.weight"},
                                                     {"main.3", "main.6"});
  const std::set<std::string> keras = expected_names(
      {"main.0.weight", "main.4.weight", "main.7.weight", "main.10.weight"}, {"main.1", "main.5", "main.8"},
      {"main.0.weight", "main.0.bias", "main.3.weight", "main.3.bias", "main.7.weight", "main.7.bias"}, {});
  for (const std::string& loss : {"bce", "hinge"}) {  // hinge drops dcgan's Sigmoid, which has no tensors
    Config c = train::preset_defaults("dcgan");
    c.width = 8;
    c.loss = loss;
    c.device = "cpu";
    EXPECT_EQ(network_names(c), dcgan) << "dcgan, loss " << loss;
  }
  for (double p : {0.0, 0.3, 0.5}) {  // keras keeps its Dropout modules at p = 0 (the identity)
    Config c = train::preset_defaults("keras");
    c.width = 16;
    c.dropout = p;
    c.device = "cpu";
    EXPECT_EQ(network_names(c), keras) << "keras, dropout " << p;
    c.loss = "bce";
    EXPECT_EQ(network_names(c), keras) << "keras, dropout " << p << ", loss bce";
  }
}

// A dropout layer for dcgan would shift every later name: refused, saying why.
TEST(Naming, DropoutIsRefusedForThePresetWithoutADropoutLayer) {
  Config c = train::preset_defaults("dcgan");
  c.dropout = 0.2;
  expect_error_containing([&] { train::validate(c); }, {"--dropout 0.2", "dcgan preset has no dropout layer"});
}

// The last value of a repeated option wins, as in common tools.
TEST(GanTrain, ARepeatedOptionTakesItsLastValue) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir out("repeat_out");
  RunResult r = run_gan_train(small_flags(out.path().string()) + " --max-steps 5 --max-steps 2 --log-every 1 --train-images 64");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_metrics(out / "metrics.csv").size(), 2u) << r.output;
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// Numbers that used to crash (int64 overflow in a shape), exit 0 doing nothing (epochs x batches
// overflowing) or train to NaN and exit 0 (an infinite learning rate or slope): each is now a usage
// error (exit 2) naming the option and its allowed range, before anything is allocated.
TEST(GanTrainErrors, AbsurdNumbersAreUsageErrors) {
  TempDir out("absurd_out");
  const std::vector<std::pair<std::string, std::string>> cases{
      {"--noise-dim 4611686018427387904", "--noise-dim must be between 1 and 65536"},
      {"--epochs 9223372036854775807", "--epochs must be between 1 and 1000000"},
      {"--lr inf", "--lr must be in (0, 1]"},
      {"--lr 1e30", "--lr must be in (0, 1]"},
      {"--lr nan", "--lr must be in (0, 1]"},
      {"--leaky-slope inf", "--leaky-slope must be in [0, 1]"},
      {"--width 1000000000", "--width must be between 1 and 4096"},
      {"--log-every 9223372036854775807", "--log-every must be between 1 and 100000"},
  };
  for (const auto& [flags, message] : cases) {
    RunResult r = run_gan_train("--device cpu --out " + out.path().string() + " " + flags);
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << flags << ": " << r.output;
  }
}

TEST(Tensor, ShapeWhoseElementCountOverflowsIsAnError) {
  expect_error_containing([] { Tensor::empty({int64_t{1} << 62, 4}); }, {"has more than 2^63 elements"});
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// Under a file-size limit (ulimit -f) the checkpoint write fails: gan_train says so in one line
// and exits 1 (before: SIGXFSZ killed it without a word), and the previous checkpoint survives.
TEST(GanTrainErrors, AFileSizeLimitIsAnErrorLineAndKeepsTheCheckpoint) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir dir("fsize");
  const std::string out = dir / "out";
  RunResult first = run_gan_train(small_flags(out) + " --max-steps 2 --train-images 64");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::string ckpt = out + "/checkpoint_latest.safetensors";
  const auto before = fs::file_size(ckpt);
  // 64 KiB: the small files still fit, the checkpoint (several hundred KiB) does not.
  const RunResult r = run_command("sh -c 'ulimit -f 64; " + kGanTrain + " " + small_flags(out) +
                                  " --max-steps 4 --train-images 64 --resume auto' 2>&1");
  const std::string& output = r.output;
  EXPECT_EQ(r.exit_code, 1) << "exit -1: killed by a signal; " << output;
  EXPECT_NE(output.find("gan_train: error:"), std::string::npos) << output;
  EXPECT_NE(output.find("File too large"), std::string::npos) << output;
  EXPECT_EQ(fs::file_size(ckpt), before);
  EXPECT_FALSE(fs::exists(ckpt + ".tmp")) << "the failed write left its temporary file";
  EXPECT_EQ(io::load_safetensors(ckpt).metadata.at("step"), "2");
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// A run that stops inside its first epoch (--max-steps) still writes a sample grid, named by step.
TEST(GanTrain, AStopInsideAnEpochWritesAGridOfThatStep) {
  NN_SKIP_WITHOUT_CIFAR();
  TempDir out("midgrid");
  RunResult r = run_gan_train(small_flags(out.path().string()) + " --max-steps 3 --train-images 320");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(fs::file_size(out / "samples_step_0000003.png"), 100u);
  EXPECT_FALSE(fs::exists(out / "samples_epoch_000.png")) << "no epoch ended";
}

TEST(GanTrainErrors, WriteInitWithInitFromIsRefused) {
  TempDir dir("writeinit");
  RunResult r = run_gan_train("--device cpu --write-init " + (dir / "a.safetensors") + " --init-from " +
                              (dir / "b.safetensors"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot be combined with --init-from"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "a.safetensors"));
}

}  // namespace
}  // namespace nn::test
