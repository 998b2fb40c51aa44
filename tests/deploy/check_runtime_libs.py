#!/usr/bin/python3
"""The image's runtime stage installs only `scripts/install-deps.sh --runtime`: that must be enough.

Usage: check_runtime_libs.py BINARY INSTALL_DEPS_SH

Maps every shared library the binary loads (ldd) to its Debian package (dpkg -S) and checks that
each package is in the dependency closure of the runtime package list (apt-cache depends --recurse)
or is part of every Debian base image (Priority: required). A library outside both would be missing
in the image and the container would not start.
"""
import os
import re
import subprocess
import sys


def runtime_packages(script):
    text = open(script).read()
    m = re.search(r"runtime_pkgs=\(([^)]*)\)", text, re.S)
    if not m:
        sys.exit("no runtime_pkgs=(...) in " + script)
    return m.group(1).split()


def candidates(path):
    real = os.path.realpath(path)
    cands = {path, real}
    for p in list(cands):
        if p.startswith("/usr/lib/"):
            cands.add(p[4:])
        elif p.startswith("/lib/"):
            cands.add("/usr" + p)
    return cands


def packages_of(paths):
    """{library path: package or None}, with one dpkg -S call."""
    allc = sorted({c for p in paths for c in candidates(p)})
    r = subprocess.run(["dpkg", "-S"] + allc, capture_output=True, text=True)
    owner = {}
    for line in r.stdout.splitlines():
        pkg, _, f = line.partition(": ")
        owner[f.strip()] = pkg.split(":")[0].strip()
    return {p: next((owner[c] for c in candidates(p) if c in owner), None) for p in paths}


def main():
    binary, script = sys.argv[1], sys.argv[2]
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = re.findall(r"=>\s+(\S+)\s+\(", out)
    if "not found" in out:
        print("ERROR ldd: " + "; ".join(l.strip() for l in out.splitlines() if "not found" in l))
        return 1
    runtime = runtime_packages(script)
    dep = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                          "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + runtime,
                         capture_output=True, text=True)
    closure = set()
    for line in dep.stdout.splitlines():
        name = line.strip()
        if ":" in name:  # "Depends: libfoo1" lines
            name = name.split(":", 1)[1].strip()
        name = name.strip("<>").split(":")[0]
        if name:
            closure.add(name)
    if not closure.issuperset(runtime):
        print("ERROR apt-cache does not know some runtime packages: "
              + ", ".join(sorted(set(runtime) - closure)) + " (run apt-get update?)")
        return 1
    base = set(subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Priority}\n"], capture_output=True,
                              text=True).stdout.split("\n"))
    required = {l.split()[0] for l in base if l.endswith(" required")}
    errors = []
    owners = packages_of(libs)
    uncovered = {}
    for lib in libs:
        pkg = owners[lib]
        if pkg is None:
            errors.append(f"{lib}: belongs to no Debian package (built locally?)")
        elif pkg not in closure and pkg not in required:
            uncovered.setdefault(pkg, []).append(os.path.basename(lib))
    for pkg, ls in sorted(uncovered.items()):
        errors.append(f"package {pkg} (for {', '.join(ls[:3])}{', ...' if len(ls) > 3 else ''}) "
                      "is not installed by `install-deps.sh --runtime`")
    for e in errors:
        print("ERROR " + e)
    print(f"check_runtime_libs: {len(libs)} libraries, runtime closure of {len(runtime)} packages "
          f"({len(closure)} with dependencies): {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
