#!/usr/bin/python3
"""The image must be built the way CI builds, and run the way the chart expects.

Usage: check_dockerfile.py REPO_ROOT

  * The build stage runs CI's build: either `make build` itself (no variable overrides), or
    scripts/install-deps.sh and then the very CMake commands of the Makefile's `build` target (read
    with `make -n build`, so variables are expanded as make sees them). Without a Makefile build
    target it compares with the documented CI commands and says so.
  * Both stages start from Debian 12; the runtime stage installs only `install-deps.sh --runtime`, no
    compiler or -dev package, copies the binary to /usr/local/bin/nim-scaler, runs as the non-root
    UID the Helm chart sets, exposes the chart's ports, and uses the binary as its entrypoint.
  * Every stage (issue 15 item 4): each COPY source from the build context exists in the
    repository, and each file copied from the build stage's build directory is an executable that
    a CMake target of the build makes (add_executable in the CMakeLists.txt of that directory, not
    excluded from `all`), so `make build` produced it. Each stage's ENTRYPOINT is such a copied
    binary.
  * The nim-emulator stage (the quickstart's fake model server, deploy/quickstart/): Debian 12, the
    runtime libraries from install-deps.sh --runtime, no compiler or -dev package, a numeric non-root
    USER, and it EXPOSEs every containerPort the quickstart's manifests give its image.
"""
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

DOCUMENTED_CI = [
    "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release",
    "cmake --build build -j2",
]


def instructions(path):
    """[(stage_index, INSTRUCTION, text)] with continuations joined and comments dropped."""
    out, stage, buf = [], -1, ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        out.append((stage, word, rest.strip()))
        buf = ""
    return out


def shell_commands(run_text):
    return [" ".join(c.split()) for c in re.split(r"&&|;", run_text) if c.strip()]


def make_build_commands(root):
    mk = os.path.join(root, "Makefile")
    if not os.path.exists(mk):
        return None, "no Makefile"
    try:
        p = subprocess.run(["make", "-n", "-C", root, "--no-print-directory", "build"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"make -n build failed: {e}"
    if p.returncode != 0:
        return None, f"make -n build failed: {p.stderr.strip()[:200]}"
    cmds = []
    for line in p.stdout.splitlines():
        for c in shell_commands(line):
            cmds.append(c)
    return cmds, "Makefile build target"


def stage_names(ins):
    """{name: stage index} from `FROM image AS name`."""
    names = {}
    for st, w, rest in ins:
        if w == "FROM":
            parts = rest.split()
            if len(parts) >= 3 and parts[-2].upper() == "AS":
                names[parts[-1]] = st
    return names


def cmake_executables(root):
    """{build-dir-relative path: problem or None} of every add_executable in the source tree.

    The binary of add_executable(NAME ...) in DIR/CMakeLists.txt lands in build/DIR/NAME. A
    directory added with EXCLUDE_FROM_ALL (or a target with EXCLUDE_FROM_ALL) is not built by
    `make build`."""
    out = {}
    excluded = set()
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("build")]
        if "CMakeLists.txt" not in files:
            continue
        rel = os.path.relpath(dirpath, root)
        text = open(os.path.join(dirpath, "CMakeLists.txt"), encoding="utf-8").read()
        for m in re.finditer(r"add_subdirectory\(\s*(\S+)[^)]*EXCLUDE_FROM_ALL", text):
            excluded.add(os.path.normpath(os.path.join(rel, m.group(1))))
        for m in re.finditer(r"add_executable\(\s*([\w.+-]+)([^)]*)\)", text, re.S):
            path = os.path.normpath(os.path.join("build", rel, m.group(1)))
            out[path] = "its target is EXCLUDE_FROM_ALL" if "EXCLUDE_FROM_ALL" in m.group(2) else None
    for path in list(out):
        src_dir = os.path.dirname(os.path.relpath(path, "build"))
        if any(src_dir == e or src_dir.startswith(e + os.sep) for e in excluded):
            out[path] = out[path] or f"{src_dir} is added with EXCLUDE_FROM_ALL (make build skips it)"
    return out


def check_stages(root, ins, names, workdir, errors):
    """Checks every stage shares: COPY sources, binaries copied from the build, entrypoints."""
    exes = cmake_executables(root)
    build_stage = names.get("build", 0)
    copied = {}  # stage -> {destination: source}
    for st, w, rest in ins:
        if w != "COPY":
            continue
        words = shlex.split(rest)
        flags = [x for x in words if x.startswith("--")]
        paths = [x for x in words if not x.startswith("--")]
        if len(paths) < 2:
            errors.append(f"COPY {rest}: needs a source and a destination")
            continue
        srcs, dest = paths[:-1], paths[-1]
        frm = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        if frm is None:
            for src in srcs:
                if src != "." and not os.path.exists(os.path.join(root, src)):
                    errors.append(f"COPY {src}: no such file or directory in the build context")
            continue
        if frm not in ("build", str(build_stage)):
            continue
        for src in srcs:
            rel = os.path.relpath(src, workdir) if src.startswith("/") else src
            if rel.startswith("build/"):
                if rel not in exes:
                    errors.append(f"COPY --from={frm} {src}: no CMake target builds {rel} "
                                  "(add_executable in its directory's CMakeLists.txt)")
                elif exes[rel]:
                    errors.append(f"COPY --from={frm} {src}: {exes[rel]}")
            copied.setdefault(st, {})[dest] = rel
    for st, w, rest in ins:
        if w != "ENTRYPOINT" or st == build_stage:
            continue
        try:
            ep = json.loads(rest)
        except json.JSONDecodeError:
            errors.append(f"ENTRYPOINT {rest} is not in exec form")
            continue
        if not ep or ep[0] not in copied.get(st, {}):
            errors.append(f"stage {st}: ENTRYPOINT {ep[:1]} is not a binary copied from the build stage")


def quickstart_ports(root, image):
    """containerPorts the deploy/quickstart/ manifests give containers running `image`."""
    ports = set()
    qdir = os.path.join(root, "deploy", "quickstart")
    if not os.path.isdir(qdir):
        return ports
    for f in sorted(os.listdir(qdir)):
        if not f.endswith(".yaml") or f.startswith("values"):
            continue
        for d in yaml.safe_load_all(open(os.path.join(qdir, f), encoding="utf-8")):
            spec = (((d or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
            for c in spec.get("containers", []):
                if c.get("image", "").split(":")[0].split("/")[-1] == image:
                    ports |= {p["containerPort"] for p in c.get("ports", [])}
    return ports


def check_emulator_stage(root, ins, st, errors):
    runs = [c for s, w, rest in ins if w == "RUN" and s == st for c in shell_commands(rest)]
    if not any("install-deps.sh --runtime" in c for c in runs):
        errors.append("nim-emulator stage does not install the runtime libraries with install-deps.sh --runtime")
    for c in runs:
        if re.search(r"build-essential|\bcmake\b|-dev\b|\bg\+\+|\bgcc\b|\bclang\b", c):
            errors.append(f"nim-emulator stage installs build tools: {c}")
    copies = [rest for s, w, rest in ins if w == "COPY" and s == st]
    if not any(re.match(r"--from=(build|0)\s+\S*build/tools/nim-emulator\s+/usr/local/bin/nim-emulator$", c)
               for c in copies):
        errors.append("nim-emulator stage does not copy build/tools/nim-emulator to /usr/local/bin/nim-emulator")
    users = [rest for s, w, rest in ins if w == "USER" and s == st]
    if not users or not re.match(r"^[1-9][0-9]*(:[0-9]+)?$", users[-1]):
        errors.append(f"nim-emulator stage must end with a numeric non-root USER, got {users}")
    expose = " ".join(rest for s, w, rest in ins if w == "EXPOSE" and s == st).split()
    for port in sorted(quickstart_ports(root, "nim-emulator")):
        if str(port) not in expose:
            errors.append(f"nim-emulator stage does not EXPOSE {port}, a containerPort of deploy/quickstart/")


def main():
    root = sys.argv[1]
    dockerfile = os.path.join(root, "docker", "Dockerfile")
    ins = instructions(dockerfile)
    errors = []
    names = stage_names(ins)
    args = {}
    for st, w, rest in ins:
        if w == "ARG" and "=" in rest and st < 0:
            k, v = rest.split("=", 1)
            args[k] = v
    froms = [rest for st, w, rest in ins if w == "FROM"]
    if len(froms) < 2:
        errors.append("need a build stage and a runtime stage")
    for f in froms:
        image = f.split()[0]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
        if not re.match(r"^(docker\.io/)?(library/)?debian:(12|bookworm)([.-][\w.-]*)?(@sha256:[0-9a-f]{64})?$", image):
            errors.append(f"stage base {image} is not Debian 12")
    # The scaler's image is the stage named runtime (the last stage when none is).
    last = names.get("runtime", len(froms) - 1)
    build_stage = names.get("build", 0)
    workdirs = [rest for st, w, rest in ins if w == "WORKDIR" and st == build_stage]
    check_stages(root, ins, names, workdirs[-1] if workdirs else "/", errors)
    if "nim-emulator" in names:
        check_emulator_stage(root, ins, names["nim-emulator"], errors)
    elif quickstart_ports(root, "nim-emulator"):
        errors.append("deploy/quickstart/ runs image nim-emulator but docker/Dockerfile has no stage AS nim-emulator")

    build_runs = [shell_commands(rest) for st, w, rest in ins if w == "RUN" and st == build_stage]
    build_cmds = [c for run in build_runs for c in run]
    dep = [c for c in build_cmds if "scripts/install-deps.sh" in c]
    if not dep or "--runtime" in dep[0]:
        errors.append("build stage does not run scripts/install-deps.sh (full install)")
    cmake = [c for c in build_cmds if c.startswith("cmake ")]

    ci_cmds, source = make_build_commands(root)
    note = ""
    makes = [c for c in build_cmds if re.match(r"^make\b", c)]
    if makes:
        # `make build` is CI's build by construction; overrides would make it another build.
        if makes != ["make build"]:
            errors.append(f"build stage runs {makes}; CI runs plain `make build` (no overrides, no other targets)")
        if ci_cmds is None:
            errors.append(f"build stage runs make build but {source}")
        if cmake:
            errors.append(f"build stage runs cmake itself besides make build: {cmake}")
    else:
        if ci_cmds is None:
            note = f"({source}; compared with the documented CI commands)"
            ci_cmds = DOCUMENTED_CI
        ci_cmake = [c for c in ci_cmds if c.startswith("cmake ")]
        if not ci_cmake:
            errors.append(f"{source} runs no cmake command")
        if cmake != ci_cmake:
            errors.append(f"build stage CMake commands {cmake} differ from CI's {ci_cmake} ({source})")
        if dep and cmake and build_cmds.index(dep[0]) > build_cmds.index(cmake[0]):
            errors.append("install-deps.sh must run before cmake")
    if ci_cmds is not None and ci_cmds is not DOCUMENTED_CI and not any("install-deps.sh" in c for c in ci_cmds):
        errors.append("the Makefile build target does not run scripts/install-deps.sh")

    rt_runs = [c for st, w, rest in ins if w == "RUN" and st == last for c in shell_commands(rest)]
    if not any("install-deps.sh --runtime" in c for c in rt_runs):
        errors.append("runtime stage does not install the runtime libraries with install-deps.sh --runtime")
    for c in rt_runs:
        if re.search(r"apt-get install|build-essential|\bcmake\b|-dev\b|\bg\+\+|\bgcc\b", c):
            errors.append(f"runtime stage installs build tools: {c}")
    copies = [rest for st, w, rest in ins if w == "COPY" and st == last]
    if not any(re.match(r"--from=(build|0)\s+\S*build/scaler/nim-scaler\s+/usr/local/bin/nim-scaler$", c) for c in copies):
        errors.append("runtime stage does not copy build/scaler/nim-scaler to /usr/local/bin/nim-scaler")
    if any(re.match(r"\.\s", c) or c.startswith(". ") for c in copies):
        errors.append("runtime stage copies the source tree")

    chart = yaml.safe_load(open(os.path.join(root, "deploy/helm/nim-scaler/values.yaml")))
    users = [rest for st, w, rest in ins if w == "USER" and st == last]
    uid = str(chart["podSecurityContext"]["runAsUser"])
    gid = str(chart["podSecurityContext"]["runAsGroup"])
    if not users or users[-1] != f"{uid}:{gid}":
        errors.append(f"runtime USER must be the chart's numeric {uid}:{gid} (runAsNonRoot needs a numeric UID), got {users}")
    expose = " ".join(rest for st, w, rest in ins if w == "EXPOSE" and st == last).split()
    for port in (chart["server"]["grpcPort"], chart["server"]["httpPort"]):
        if str(port) not in expose:
            errors.append(f"runtime stage does not EXPOSE {port}")
    ep = [rest for st, w, rest in ins if w == "ENTRYPOINT" and st == last]
    try:
        ep_json = json.loads(ep[-1]) if ep else None
    except json.JSONDecodeError:
        ep_json = None
    if ep_json != ["/usr/local/bin/nim-scaler"]:
        errors.append(f"ENTRYPOINT must be [\"/usr/local/bin/nim-scaler\"] in exec form, got {ep}")
    if os.path.exists(os.path.join(root, "docker", "Dockerfile.dockerignore")):
        ign = open(os.path.join(root, "docker", "Dockerfile.dockerignore")).read().split()
        if "build" not in ign:
            errors.append("Dockerfile.dockerignore must exclude the host build directory")

    for e in errors:
        print(f"ERROR docker/Dockerfile: {e}")
    print(f"check_dockerfile: {len(errors)} problems; CI build commands from {source} {note}".rstrip())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
