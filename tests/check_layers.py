#!/usr/bin/env python3
"""The dependency rule, checked on every #include of the project's sources.

Each part may include only itself and the parts below it:

    base  <-  ops  <-  autograd  <-  nn  <-  models  <-  cli  <-  apps
                          ^                    ^
                          +------- data -------+  (base and tensors, never a network; cli may use data)
                          +------- io             (files: safetensors, state dicts; base and tensors,
                                                   never a module)

base is below everything; every part may use it.

apps/ is known by nothing but the tests. The benchmarks and fuzz targets may use every part of
src/, not apps/. A header whose code lies in a detail namespace of its part
(`namespace hsanet::ops::detail {`) is that part's own: only files of the same part include it.
Includes of other libraries ("hwy/...", <...>) and of files beside the including one are not
the project's parts and are ignored.

Usage: check_layers.py SOURCE_DIR        (exit 1, with one line per violation, if any)
"""
import pathlib
import re
import sys

SRC_PARTS = ["base", "ops", "autograd", "io", "nn", "data", "models", "cli"]

# What each part (a folder of src/, or a top-level folder) may include.
ALLOWED = {
    "base": {"base"},
    "ops": {"ops", "base"},
    "autograd": {"autograd", "ops", "base"},
    "io": {"io", "autograd", "base"},
    "nn": {"nn", "autograd", "ops", "base"},
    "data": {"data", "autograd", "base"},
    "models": {"models", "nn", "autograd", "ops", "base"},
    "cli": {"cli", "models", "nn", "data", "autograd", "ops", "base"},
    "apps": set(SRC_PARTS) | {"apps"},
    "bench": set(SRC_PARTS),
    "fuzz": set(SRC_PARTS),
    "tests": set(SRC_PARTS) | {"apps"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
PRIVATE = re.compile(r'^namespace hsanet::\w+::detail \{', re.MULTILINE)
SUFFIXES = {".h", ".cc", ".cu", ".cuh", ".cpp"}


def part_of(root: pathlib.Path, path: pathlib.Path) -> str:
    rel = path.relative_to(root).parts
    return rel[1] if rel[0] == "src" else rel[0]


def included_part(root: pathlib.Path, source: pathlib.Path, name: str):
    """The project part that `name` names, or None for another library's or a neighbour file."""
    if (source.parent / name).exists():
        return None  # beside the including file (e.g. bench/attention_kernels/...)
    first = name.split("/", 1)[0]
    if "/" in name and first in SRC_PARTS and (root / "src" / name).exists():
        return first
    if "/" in name and first == "apps" and (root / name).exists():
        return "apps"
    return None


def is_private(header: pathlib.Path) -> bool:
    return bool(PRIVATE.search(header.read_text(errors="replace")))


def main() -> int:
    root = pathlib.Path(sys.argv[1]).resolve()
    violations, checked = [], 0
    for top in ["src", "apps", "bench", "fuzz", "tests"]:
        for path in sorted((root / top).rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            part = part_of(root, path)
            if part not in ALLOWED:
                violations.append(f"{path.relative_to(root)}: in no known part ({part}); "
                                  f"add it to tests/check_layers.py")
                continue
            for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = included_part(root, path, m.group(1))
                if target is None:
                    continue
                checked += 1
                if target not in ALLOWED[part]:
                    violations.append(f"{path.relative_to(root)}:{lineno}: {part} includes "
                                      f"\"{m.group(1)}\" from {target}, which {part} may not use")
                elif (target != part and target in SRC_PARTS
                      and is_private(root / "src" / m.group(1))):
                    violations.append(f"{path.relative_to(root)}:{lineno}: {part} includes "
                                      f"\"{m.group(1)}\", a header private to {target}")
    for v in violations:
        print(v)
    print(f"check_layers: {checked} includes of the project's parts checked, "
          f"{len(violations)} against the rule")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
