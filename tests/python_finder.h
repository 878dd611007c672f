// The Python interpreter a test can use for a module, or "" (the test then skips, saying why).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

namespace hsanet::testing {

// $HSANET_PYTHON when set, else python3 on the PATH, else the system's /usr/bin/python3: Debian's
// python3-torch and python3-numpy install there, where a pyenv or virtualenv python3 that comes
// first on the PATH does not see them.
inline std::string python_with(const std::string& module) {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("HSANET_PYTHON")) candidates.emplace_back(p);
  candidates.insert(candidates.end(), {"python3", "/usr/bin/python3"});
  for (const std::string& py : candidates) {
    const std::string cmd = py + " -c 'import " + module + "' > /dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

}  // namespace hsanet::testing
