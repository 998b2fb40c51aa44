"""pytest fixtures for the KEDA conformance suite (cases 1-32, listed in tests/conformance/README.md).

NIM_SCALER_BIN names the nim-scaler binary (ctest passes $<TARGET_FILE:nim-scaler>);
CONFORMANCE_WORK_DIR is where generated stubs, logs and certificates go.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "case(n): the case(s) of tests/conformance/README.md a test covers")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    d = os.environ.get("CONFORMANCE_WORK_DIR") or str(tmp_path_factory.mktemp("conformance"))
    os.makedirs(d, exist_ok=True)
    os.environ["CONFORMANCE_WORK_DIR"] = d
    return d


@pytest.fixture(scope="session")
def scaler(workdir):
    """One plaintext server shared by the tests that do not stop or reconfigure it."""
    s = h.Scaler(workdir=workdir)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def channel(scaler):
    import grpc
    ch = grpc.insecure_channel(scaler.target, options=[("grpc.use_local_subchannel_pool", 1)])
    yield ch
    ch.close()


@pytest.fixture(scope="session")
def client(channel):
    return h.Client(channel)


@pytest.fixture
def pod():
    p = h.FakePod()
    yield p
    p.close()


@pytest.fixture
def make_pod():
    made = []

    def make(**kw):
        p = h.FakePod(**kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


# CONFORMANCE_LONG=1 (test_streams.py) runs single tests for up to 31 minutes.
PER_TEST_WATCHDOG_S = 2100 if os.environ.get("CONFORMANCE_LONG") == "1" else 150


@pytest.fixture(autouse=True)
def watchdog():
    """Every test is bounded: a test still running after PER_TEST_WATCHDOG_S dumps every
    thread's stack and ends the run (ctest's TIMEOUT is the outer bound)."""
    import faulthandler
    faulthandler.dump_traceback_later(PER_TEST_WATCHDOG_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


_EXIT_STATUS = [0]


def pytest_sessionfinish(session, exitstatus):
    """Bound the interpreter's exit too: if grpc's shutdown ever hangs after the last test (seen
    once when every file ran in one process), dump the stacks and exit after 60 s."""
    import faulthandler
    _EXIT_STATUS[0] = int(exitstatus)
    faulthandler.dump_traceback_later(60, exit=True)


def pytest_unconfigure(config):
    """Every result is reported by now; grpc's C threads can keep the interpreter's shutdown
    waiting on a join, so leave at once with pytest's exit status."""
    import os
    import sys
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS[0])
