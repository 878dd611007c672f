// hsanet report RUN_DIR: rebuilds the run's report.html from the files in the run directory (for
// a run made before report.html existed, after `hsanet explain` has added images, or with the
// data folder somewhere new).
#include <ostream>

#include "apps/train/run_report.h"
#include "apps/train/tools.h"

namespace hsanet::train {

int report_command(const ReportOptions& opt, std::ostream& out, std::ostream& err) {
  RunReportOptions ro;
  ro.data = opt.data;
  std::vector<std::string> notes;
  const std::string path = write_run_report(opt.run_dir, ro, &notes);
  for (const std::string& n : notes) err << "hsanet report: note: " << n << "\n";
  out << "wrote " << path << "\n";
  return 0;
}

}  // namespace hsanet::train
