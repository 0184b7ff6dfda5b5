"""The parent of a pool's workers: one fresh interpreter that imports once, then forks.

Each worker used to be a fresh interpreter of its own, and each paid the same start
(about 0.75 s of CPU: the interpreter, numpy, scipy, scikit-image and the chain
interpreter) before its first item: on a two-core machine that was a tenth of a
short run, and on a 16-core machine 12 CPU-seconds. A run now starts one launcher
(``python -m chainlang.runtime.prep_launch``) that imports what evaluating items needs
once, while the run compiles its chain, then forks one worker for each socket the run
sends it on its control socket (``SCM_RIGHTS``); the workers share those pages
copy-on-write and start at once.

Why fork here and not from the run's process: the run has an event loop, threads
and open clients, which a fork would copy in an unknown state. The launcher is a
fresh interpreter with one thread: its numeric libraries are told to use one thread
each (``*_NUM_THREADS=1``, unless the user set them), which is also what N workers on
N cores want. Like a fresh worker it does not run the caller's ``__main__``.

The run closes the control socket once it has sent every worker's socket (at once,
or without sending any when the run turns out not to need a pool). The launcher
reports on its stdout, one line each: ``started INDEX PID`` when a worker is forked,
``exit INDEX CODE`` when one ends (``CODE`` as :attr:`subprocess.Popen.returncode`
gives it: negative for a signal). It exits when its last worker has, and a worker
whose run is gone stops (its socket closes).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import socket
import sys
import traceback

LAUNCH_MODULE = "chainlang.runtime.prep_launch"  # what the pool runs with ``python -m``

# One thread per numeric library in each worker: the pool already has a worker per core.
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# What evaluating items imports on first use (found by listing a worker's modules after
# the shipped chains ran); a module that is not installed is skipped.
PRELOAD = (
    "chainlang.runtime.prep_worker",
    "chainlang.stdlib.core",
    "chainlang.vision.ops",
    "scipy.ndimage",
    "skimage.color",
    "skimage.segmentation",
    "skimage.util",
    "PIL.ImageChops",
    "PIL.ImageDraw",
    "PIL.ImageFont",
    "PIL.PngImagePlugin",
)


def main(argv: list[str]) -> None:
    """``python -m chainlang.runtime.prep_launch CONTROL_FD SYS_PATH_JSON``: import, then
    fork one worker per socket received on the control socket, and wait for them."""
    control = socket.socket(fileno=int(argv[0]))
    path = json.loads(argv[1])
    # The run's import path: a third party's operations import here as they do there.
    sys.path[:] = [p for p in path if p not in sys.path] + sys.path
    # Ctrl-C reaches every process of the terminal's group: the run's process stops the
    # pool in order, so neither the launcher nor a worker may die of it first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()  # as the gc module's documentation advises for a parent that forks
    for module in PRELOAD:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    # What the launcher imported is never collected: kept out of the workers' collections,
    # which would otherwise walk (and so copy) those pages in every worker.
    gc.freeze()
    pids: dict[int, int] = {}
    while True:  # until the run has sent every worker's socket (or needs none)
        _, fds, _, _ = socket.recv_fds(control, 1, 1)
        if not fds:
            break
        index, pid = len(pids), _fork(fds[0], control)
        pids[pid] = index
        _report(f"started {index} {pid}")
    control.close()
    while pids:
        pid, status = os.wait()
        if pid in pids:  # not some other child (there are none, but wait() returns any)
            index = pids.pop(pid)
            _report(f"exit {index} {os.waitstatus_to_exitcode(status)}")


def _fork(fd: int, control: socket.socket) -> int:
    """Fork the worker that serves socket ``fd``; the launcher gets its pid."""
    pid = os.fork()
    if pid:
        os.close(fd)  # the worker holds it now
        return pid
    code = 0
    try:
        gc.enable()
        control.close()
        # the launcher's report channel is not the worker's: it has nothing to say there
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        from multiprocessing.connection import Connection

        from chainlang.runtime.prep_worker import serve

        serve(Connection(fd))
    except BaseException:  # a worker must never return into the launcher's loop
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def _report(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def child_environment() -> dict[str, str]:
    """The launcher's environment: the run's, with one thread per numeric library
    where the user did not choose."""
    env = dict(os.environ)
    for name in ONE_THREAD:
        env.setdefault(name, "1")
    return env


if __name__ == "__main__":
    main(sys.argv[1:])
