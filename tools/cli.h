// cli.h — the command-line parse every tool shares (gan_train, gan_sample, gan_eval): --help prints
// the options and exits 0; a bad option is one line "<tool>: error: ... (see <tool> --help)" and
// exit 2, the usage exit code of all the tools.
#pragma once
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <optional>
#include <string>

// The exit code when the tool must stop now (help printed, or a bad command line), else nullopt.
// A repeated option takes its last value, as common tools do (`--max-steps 20 ... --max-steps 5`
// runs 5 steps), rather than being refused.
// `out` gets --help, `err` the error line (the fuzz harness, fuzz/fuzz_cli.cpp, passes sinks).
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, const std::string& tool,
                                             std::ostream& out = std::cout, std::ostream& err = std::cerr) {
  // Under a file-size limit (ulimit -f) a write past it raises SIGXFSZ, which kills the process
  // without a word; ignored, the write fails with EFBIG instead and the tool's own error path says
  // so in one line (the checkpoint writer then leaves the previous checkpoint intact).
  std::signal(SIGXFSZ, SIG_IGN);
  for (CLI::Option* o : app.get_options()) {
    if (o->get_name() != "--help" && o->get_expected_max() <= 1) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    err << tool << ": error: " << e.what() << " (see " << tool << " --help)\n";
    return 2;
  }
  return std::nullopt;
}
