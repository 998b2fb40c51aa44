"""What the documentation checks of tests/docs share: the repository's file list and the
self-test runner that shows each check can fail."""
import contextlib
import io
import os
import subprocess
import tempfile


def repo_files(root):
    """The files git knows (tracked or untracked, not ignored), relative to root; without git
    (the self-tests' made-up trees), every file under root but hidden and build directories."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], check=True, capture_output=True).stdout
        files = [f for f in out.decode("utf-8", "replace").split("\0") if f]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not d.startswith("build")]
        for name in filenames:
            files.append(os.path.relpath(os.path.join(dirpath, name), root))
    return files


def run_self_test(main, cases):
    """Runs main(["check", root]) on each made-up tree ({path: text}) and compares its exit code
    with the expected one. Returns 0 when every case gives what it should, 1 otherwise."""
    for files, want in cases:
        with tempfile.TemporaryDirectory() as root:
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
                with open(os.path.join(root, rel), "w") as f:
                    f.write(text)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                got = main(["check", root])
        if got != want:
            print("self-test FAILED on %r: exit %d, want %d\n%s" % (files, got, want, out.getvalue()))
            return 1
    print("self-test ok: %d cases" % len(cases))
    return 0
