"""Script mode's stderr tail: the script's last lines, all of them, as soon as its exit is reported."""

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time

from image_classifier.training.script_mode import _StderrTail


def write_lines(text, count=1):
    """A child process that writes ``count`` numbered lines of ``text`` to stderr and ends."""
    code = f"import sys\nfor number in range({count}):\n    print(f'{text} {{number}}', file=sys.stderr)\n"
    subprocess.run([sys.executable, "-c", code], check=True)


@contextlib.contextmanager
def lagging_stderr():
    """fd 2 on a small pipe nobody reads for half a second: the tail's reader, which echoes every line to it,
    lags behind the children (as it does on a loaded machine). Entered in the test itself: pytest puts its
    own capture back on fd 2 between a fixture's setup and the test."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # full after a few hundred lines
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def drain_later():
        time.sleep(0.5)
        with os.fdopen(read_end, "rb") as pipe:
            while pipe.read(65536):
                pass

    drainer = threading.Thread(target=drain_later, daemon=True)
    drainer.start()
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        drainer.join(timeout=5)


def test_the_last_lines_are_all_there_when_the_child_has_just_ended():
    with lagging_stderr(), _StderrTail(20) as tail:
        write_lines("line", 5000)
        lines = tail.lines()
    assert lines == [f"line {number}" for number in range(4980, 5000)]


def test_clear_forgets_the_lines_of_children_that_have_ended():
    with lagging_stderr(), _StderrTail(5) as tail:
        write_lines("pip says", 5000)
        tail.clear()
        write_lines("the script says")
        lines = tail.lines()
    assert lines == ["the script says 0"]
