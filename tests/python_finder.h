// The Python interpreter a test can use for a module, or "" (the test then skips, saying why).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

namespace hsanet::testing {

// $HSANET_PYTHON alone when set (HSANET_PYTHON=false forces the skip); else python3 on the PATH,
// else the system's /usr/bin/python3: Debian's python3-torch and python3-numpy install there,
// where a pyenv or virtualenv python3 that comes first on the PATH does not see them.
inline std::string python_with(const std::string& module) {
  std::vector<std::string> candidates{"python3", "/usr/bin/python3"};
  if (const char* p = std::getenv("HSANET_PYTHON")) candidates = {p};
  for (const std::string& py : candidates) {
    const std::string cmd = py + " -c 'import " + module + "' > /dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

}  // namespace hsanet::testing
