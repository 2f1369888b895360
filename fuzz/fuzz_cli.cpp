// fuzz_cli.cpp — libFuzzer harness of the three tools' command-line parses (tools/tool_options.h):
// gan_train's (with its preset pre-pass and validate()), gan_sample's and gan_eval's.
//
// Input: the first byte picks the tool (its value mod 3: gan_train, gan_sample, gan_eval); the
// rest, split at NUL bytes, is the argument list. Property: every parse returns (nullopt, 0 or 2)
// without crashing, hanging or throwing; a parse that goes on (nullopt) has a configuration that
// passes validate() again. Output goes to sinks, not the terminal.
//
// Seeds: fuzz/corpus/cli (the README's command lines, and some bad ones).
#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include "tool_options.h"

namespace {

struct NullBuffer : std::streambuf {
  int overflow(int c) override { return c; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static NullBuffer null_buffer;
  static std::ostream sink(&null_buffer);
  const int tool = data[0] % 3;
  std::vector<std::string> args = {tool == 0 ? "gan_train" : tool == 1 ? "gan_sample" : "gan_eval"};
  std::string current;
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  if (size > 1) args.push_back(current);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(args.size());

  std::optional<int> exit_code;
  if (tool == 0) {
    GanTrainArgs a;
    exit_code = parse_gan_train(argc, argv.data(), a, sink, sink);
    if (!exit_code) nn::train::validate(a.config);  // throws (a finding) if the parse let a bad value through
  } else if (tool == 1) {
    GanSampleArgs a;
    exit_code = parse_gan_sample(argc, argv.data(), a, sink, sink);
  } else {
    GanEvalArgs a;
    exit_code = parse_gan_eval(argc, argv.data(), a, sink, sink);
  }
  if (exit_code && *exit_code != 0 && *exit_code != 2) std::abort();
  return 0;
}
