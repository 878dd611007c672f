// cpu_train from command line to report: parse, set up the run (new or resumed), train epoch by
// epoch with a checkpoint after each, and write the final report. The program's main() is one
// call to cpu_train_main, which the tests call too.
#pragma once

#include <iosfwd>

#include "apps/train/command_line.h"

namespace hsanet::train {

// Exit codes: 0 done (or stopped on request), 1 an error (data, files), 2 a bad command line,
// 3 the run diverged (a NaN or infinite loss or weight; the last good checkpoint is untouched).
int cpu_train_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err, bool tty);

// The run itself, after parsing. Throws on errors (cpu_train_main turns them into messages).
int run_training(const TrainInvocation& inv, std::ostream& out, std::ostream& err, bool tty);

}  // namespace hsanet::train
