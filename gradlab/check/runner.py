r"""Running untrusted derivations: each one in its own worker process, with limits, and nothing it does
reaching the grader or another student.

:func:`run_isolated` runs ``work(item)`` for every item, each in a fresh worker forked from this
(warm) process — gradlab, NumPy, Hypothesis and autograd are imported once here, so a worker starts in
milliseconds — at most ``jobs`` at a time. Each worker

* is its own process group (a terminal's Ctrl-C reaches only the grader, which then stops every
  worker; a worker's own child processes die with it) and dies with the grader;
* has a wall-time limit (killed when it runs out) and an address-space limit (a large allocation
  fails inside the worker with ``MemoryError``), no core dumps, and standard input from ``/dev/null``;
* has its standard output and error redirected at the file-descriptor level to a pipe the grader
  reads, so ``print``, ``os.write(1, …)`` and C-level writes are captured; the grader keeps the start
  and the end of it (:data:`OUTPUT_HEAD`, :data:`OUTPUT_TAIL`) and counts the rest;
* closes every other inherited descriptor (it cannot read another worker's pipes) and keeps
  Hypothesis' storage in a folder the grader made and removes (no ``.hypothesis/`` left behind);
* sends its result as one JSON document over a pipe of its own; the grader parses JSON only (never
  pickle), so a worker cannot make the grader run code.

Whatever the work does to its own process — patching ``numpy``, ``os.chdir``, ``sys.path``,
``sys.modules``, ``sys.exit``, ``os._exit``, a crash, an endless loop, a memory blow-up — ends with
that process: the outcome says what happened and the run goes on with the next item.

This isolates students from each other and from the grader; it is not a security sandbox (a worker
runs as the grader's user and can read and write what that user can): grade in the grading
platform's container, as Gradescope and Otter-Grader do.
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import resource
import selectors
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Limits", "Outcome", "run_isolated", "warm_up", "default_jobs", "hypothesis_storage", "DEFAULT_TIMEOUT", "DEFAULT_MEMORY_MB",
           "OUTPUT_HEAD", "OUTPUT_TAIL", "trim_output"]

DEFAULT_TIMEOUT = 60.0     # seconds of wall time per derivation
DEFAULT_MEMORY_MB = 2048   # address space a worker may add to what it inherits
OUTPUT_HEAD = 4000         # bytes of a worker's output kept from its start ...
OUTPUT_TAIL = 2000         # ... and from its end
RESULT_LIMIT = 64 << 20    # a result document larger than this is refused
_GRACE = 0.5               # after a worker exits, how long its pipes may stay open (a grandchild holding them)
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_STACK_SIGNAL = getattr(signal, "SIGUSR1", None)   # a worker at its time limit prints where it is, then dies
_STACK_WAIT = 0.3
_STACK_HEADER = b"Stack (most recent call first):\n"


@dataclass(frozen=True)
class Limits:
    """Per-worker limits: ``timeout`` seconds of wall time, ``memory_mb`` MiB of address space on top of
    what the worker inherits (0 or None: no limit)."""

    timeout: float | None = DEFAULT_TIMEOUT
    memory_mb: int | None = DEFAULT_MEMORY_MB


@dataclass
class Outcome:
    r"""What one worker came back with: ``value`` (the JSON document ``work`` returned, or None), its
    captured ``output`` (trimmed; ``output_bytes`` is the full length), the wall time ``elapsed``, and
    when there is no value, ``failure`` (``"timeout"``, ``"signal"``, ``"exit"``, ``"result"``) and
    ``message`` in plain words."""

    index: int
    value: dict | None = None
    output: str = ""
    output_bytes: int = 0
    elapsed: float = 0.0
    exit_status: int | None = None
    signal: int | None = None
    failure: str | None = None
    message: str | None = None
    max_rss_mb: float = 0.0
    stack: list = field(default_factory=list)   # a timed-out worker's Python stack: [(file, line, function)]


def default_jobs() -> int:
    """Return the number of cores this process may use (the default ``--jobs``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def warm_up(*, sympy: bool = False, check=None) -> None:
    r"""Import what every check needs, once, in the grader (so each forked worker has it already), run
    ``check()`` (a small check that fills the caches a first check fills: lazy imports, Hypothesis'
    strategies), and freeze the garbage collector's view of it all (a worker then does not copy those
    pages by touching them)."""
    import numpy  # noqa: F401
    import autograd.numpy  # noqa: F401
    import hypothesis  # noqa: F401
    import hypothesis.strategies  # noqa: F401

    from .. import specs, testing  # noqa: F401
    from . import cli, core, search  # noqa: F401
    if sympy:
        import sympy as _sympy  # noqa: F401

        from ..symbolic import candidate  # noqa: F401
    if check is not None:
        check()
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()


@contextlib.contextmanager
def hypothesis_storage():
    r"""Within this block, Hypothesis keeps whatever it stores (its ``.hypothesis/`` folder: example database,
    caches) in a temporary folder that is removed afterwards, not in the current directory."""
    from hypothesis import configuration

    folder = tempfile.mkdtemp(prefix="gradlab-hypothesis-")
    old_env = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
    old_home = getattr(configuration, "__hypothesis_home_directory", None)
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = folder
    configuration.set_hypothesis_home_dir(folder)
    try:
        yield folder
    finally:
        configuration.set_hypothesis_home_dir(old_home)
        if old_env is None:
            os.environ.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
        else:
            os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = old_env
        shutil.rmtree(folder, ignore_errors=True)


def trim_output(head: bytes, tail: bytes, total: int) -> str:
    """Return captured output as text: all of it when short, else its start and end around a line that
    says how much was left out."""
    if total <= len(head) + len(tail):
        return (head + tail).decode("utf-8", "replace")
    left_out = total - len(head) - len(tail)
    return (head.decode("utf-8", "replace") + f"\n[… {left_out} bytes of output left out …]\n"
            + tail.decode("utf-8", "replace"))


@dataclass
class _Worker:
    index: int
    pid: int
    started: float
    deadline: float | None
    result_fd: int
    output_fd: int
    pid_fd: int | None = None
    result: bytearray = field(default_factory=bytearray)
    result_too_large: bool = False
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0
    open_fds: set = field(default_factory=set)
    exited_at: float | None = None
    wait_status: int | None = None
    max_rss_kb: int = 0
    timed_out: bool = False
    asked_for_stack: float | None = None


def run_isolated(work, items, *, jobs: int | None = None, limits: Limits = Limits(), on_done=None) -> tuple:
    r"""Run ``work(item)`` for each of ``items`` in isolated worker processes, ``jobs`` at a time (default:
    the cores this process may use); return ``(outcomes, interrupted)``: one :class:`Outcome` per item
    in the order of ``items`` (None for an item not run because the run was interrupted), and the
    ``KeyboardInterrupt`` or ``SystemExit`` that stopped the run (None when it completed).

    ``work`` runs in the worker and must return a JSON-serialisable dict. ``on_done(outcome)`` is called
    in the grader as each worker finishes. A ``KeyboardInterrupt`` (Ctrl-C) or ``SystemExit`` in the
    grader stops every worker and returns what finished; workers never outlive this call."""
    if not hasattr(os, "fork"):
        raise RuntimeError("gradlab check runs every derivation in a forked worker process, and this system has no "
                           "fork (Windows): run gradlab in WSL, a Linux container or the grading platform's container")
    items = list(items)
    jobs = default_jobs() if not jobs or jobs < 1 else int(jobs)
    outcomes: list = [None] * len(items)
    pending = deque(range(len(items)))
    running: dict = {}
    sel = selectors.DefaultSelector()
    storage = tempfile.mkdtemp(prefix="gradlab-check-")
    interrupted = None
    try:
        while pending or running:
            while pending and len(running) < jobs:
                i = pending.popleft()
                # Ctrl-C waits until the new worker is registered: it must never be started and then lost
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
                try:
                    w = _start(work, items[i], i, limits, storage, sel)
                    running[w.pid] = w
                except OSError as exc:   # no process could be made (too many processes, no memory)
                    outcomes[i] = Outcome(i, failure="start", message=f"no worker process could be started: "
                                                                      f"{exc.strerror or exc}")
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                if outcomes[i] is not None and on_done is not None:
                    on_done(outcomes[i])
            _pump(sel, running)
            now = time.monotonic()
            for w in list(running.values()):
                _poll(w, now, sel)
                if w.exited_at is not None and not w.open_fds:
                    del running[w.pid]
                    outcomes[w.index] = _outcome(w, limits)
                    if on_done is not None:
                        on_done(outcomes[w.index])
    except (KeyboardInterrupt, SystemExit) as exc:
        interrupted = exc
    finally:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not skip the clean-up
        try:
            for w in running.values():
                _reap(w, block=True)
                for fd in list(w.open_fds):
                    _close(sel, w, fd)
            sel.close()
            shutil.rmtree(storage, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, old)
    return outcomes, interrupted


def _start(work, item, index, limits, storage, sel) -> _Worker:
    result_r, result_w = os.pipe()
    output_r, output_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):   # else the worker inherits (and repeats) unwritten output
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    pid = os.fork()
    if pid == 0:   # the worker: never returns
        os.close(result_r)
        os.close(output_r)
        _worker(work, item, result_w, output_w, limits, os.path.join(storage, str(index)))
    os.close(result_w)
    os.close(output_w)
    try:
        os.setpgid(pid, pid)   # also done in the worker; whichever runs first wins the race
    except OSError:
        pass
    now = time.monotonic()
    w = _Worker(index, pid, now, now + limits.timeout if limits.timeout else None, result_r, output_r)
    for fd in (result_r, output_r):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, w)
        w.open_fds.add(fd)
    if hasattr(os, "pidfd_open"):
        try:
            w.pid_fd = os.pidfd_open(pid)
            sel.register(w.pid_fd, selectors.EVENT_READ, w)
        except OSError:
            w.pid_fd = None
    return w


def _worker(work, item, result_w, output_w, limits, storage) -> None:
    """The forked worker: isolate, limit, run ``work(item)``, send the result, exit without cleanup."""
    try:
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
        _die_with_parent()
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output_w, 1)
        os.dup2(output_w, 2)
        keep = result_w
        os.closerange(3, keep)
        os.closerange(keep + 1, max(keep + 2, _max_fd()))
        if _STACK_SIGNAL is not None:
            import faulthandler

            try:   # to descriptor 2, the output pipe (sys.stderr may be another object, e.g. under pytest)
                faulthandler.register(_STACK_SIGNAL, file=2, all_threads=False, chain=False)
            except (OSError, ValueError, RuntimeError):
                pass
        os.makedirs(storage, exist_ok=True)
        os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = storage
        try:
            from hypothesis.configuration import set_hypothesis_home_dir

            set_hypothesis_home_dir(storage)
        except ImportError:
            pass
        _set_limits(limits)
    except BaseException as exc:  # noqa: BLE001 - the worker could not isolate itself: say so, and stop
        _send(result_w, {"worker_error": f"the worker could not start: {type(exc).__name__}: {exc}"})
        os._exit(70)
    try:
        value = work(item)
        doc = value if isinstance(value, dict) else {"worker_error": f"the work returned {type(value).__name__}"}
    except BaseException as exc:  # noqa: BLE001 - SystemExit or anything else from the derivation
        doc = {"worker_error": f"{type(exc).__name__}: {exc}"}
    _send(result_w, doc)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(0)


def _send(fd, doc) -> None:
    try:
        data = json.dumps(doc).encode("utf-8")
    except (TypeError, ValueError) as exc:
        data = json.dumps({"worker_error": f"the result could not be written as JSON: {exc}"}).encode("utf-8")
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.close(fd)
    except OSError:
        pass


def _max_fd() -> int:
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        soft = 4096
    return soft if soft != resource.RLIM_INFINITY and soft > 0 else 65536


def _die_with_parent() -> None:
    """Linux: ask the kernel to kill this worker when the grader dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:   # the grader died before prctl took effect
        os._exit(1)


def _vm_size() -> int:
    """This process's virtual size in bytes (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _set_limits(limits: Limits) -> None:
    """No core files; the address-space limit (where the system enforces one: Linux); a CPU-time backstop."""
    wanted = [(resource.RLIMIT_CORE, 0, 0)]
    vm = _vm_size()
    if limits.memory_mb and vm:
        cap = vm + int(limits.memory_mb) * (1 << 20)
        wanted.append((resource.RLIMIT_AS, cap, cap))        # hard = soft: the derivation cannot raise it
    if limits.timeout:
        cpu = int(2 * limits.timeout) + 10   # a backstop only: the grader kills on wall time first
        wanted.append((resource.RLIMIT_CPU, cpu, cpu + 5))
    for which, soft, hard in wanted:
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):   # a system that refuses this limit: the wall-time limit still holds
            pass


def _pump(sel, running) -> None:
    """Wait until a worker has something to say, exits, or reaches its deadline; read what is there."""
    if not running:
        return
    now = time.monotonic()
    deadlines = [w.deadline for w in running.values() if w.deadline is not None]
    wait = 0.25 if not deadlines else min(0.25, max(0.0, min(deadlines) - now))
    if any(w.pid_fd is None or w.exited_at is not None for w in running.values()):
        wait = min(wait, 0.02)   # no pidfd to wake us at exit: poll
    for key, _ in sel.select(wait):
        w = key.data
        fd = key.fd
        if fd == w.pid_fd:
            sel.unregister(fd)
            os.close(fd)
            w.pid_fd = None
            continue
        _drain(sel, w, fd)


def _drain(sel, w: _Worker, fd: int) -> None:
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            _close(sel, w, fd)
            return
        if fd == w.result_fd:
            if len(w.result) + len(chunk) > RESULT_LIMIT:
                w.result_too_large = True
            else:
                w.result += chunk
        else:
            w.total += len(chunk)
            room = OUTPUT_HEAD - len(w.head)
            if room > 0:
                w.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                w.tail += chunk
                del w.tail[:-OUTPUT_TAIL]


def _close(sel, w: _Worker, fd: int) -> None:
    if fd in w.open_fds:
        try:
            sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        os.close(fd)
        w.open_fds.discard(fd)


def _poll(w: _Worker, now: float, sel) -> None:
    if w.exited_at is None:
        _reap(w, block=False)
        if w.exited_at is None and w.deadline is not None and now >= w.deadline:
            if _STACK_SIGNAL is not None and w.asked_for_stack is None:
                w.asked_for_stack = now   # where is it? (faulthandler in the worker writes its stack)
                w.deadline = now + _STACK_WAIT
                try:
                    os.kill(w.pid, _STACK_SIGNAL)
                except ProcessLookupError:
                    pass
                return
            w.timed_out = True
            _reap(w, block=True)
            for fd in list(w.open_fds):
                _drain(sel, w, fd)
    if w.exited_at is not None:
        if w.open_fds and now - w.exited_at > _GRACE:   # a process that left the group still holds them
            for fd in list(w.open_fds):
                _drain(sel, w, fd)
                _close(sel, w, fd)
        if w.pid_fd is not None:
            try:
                sel.unregister(w.pid_fd)
            except (KeyError, ValueError):
                pass
            os.close(w.pid_fd)
            w.pid_fd = None


def _reap(w: _Worker, *, block: bool) -> None:
    """Collect the worker once it has exited (``block``: kill it first). Its process group is killed while
    the worker is still a zombie, so that its id cannot have been reused: whatever it started dies with it."""
    if w.exited_at is not None:
        return
    if block:
        _kill(w)
    elif hasattr(os, "waitid"):
        try:
            if os.waitid(os.P_PID, w.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                return
        except ChildProcessError:
            pass
        _kill(w)
        block = True
    try:
        pid, status, usage = os.wait4(w.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        pid, status, usage = w.pid, 0, None
    if pid == 0:
        return
    w.exited_at = time.monotonic()
    w.wait_status = status
    if usage is not None:
        w.max_rss_kb = usage.ru_maxrss


def _stack_from(head: bytes, tail: bytes, total: int) -> tuple:
    """Split the stack a timed-out worker printed off its output: ``(frames, output, output_bytes)``."""
    data = tail if total > len(head) + len(tail) else head + tail
    at = data.rfind(_STACK_HEADER)
    if at < 0:
        return [], trim_output(head, tail, total), total
    frames = []
    for line in data[at + len(_STACK_HEADER):].decode("utf-8", "replace").splitlines():
        m = re.match(r'\s*File "(.*)", line (\d+) in (\S+)', line)
        if m:
            frames.append((m.group(1), int(m.group(2)), m.group(3)))
    cut = len(data) - at   # bytes of the stack at the end of the output
    if total > len(head) + len(tail):
        return frames, trim_output(head, tail[:len(tail) - cut], total - cut), total - cut
    kept = data[:at]
    return frames, trim_output(kept[:OUTPUT_HEAD], kept[OUTPUT_HEAD:], len(kept)), len(kept)


def _kill(w: _Worker) -> None:
    for target in (lambda: os.killpg(w.pid, signal.SIGKILL), lambda: os.kill(w.pid, signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


def _outcome(w: _Worker, limits: Limits) -> Outcome:
    out = Outcome(w.index, output=trim_output(bytes(w.head), bytes(w.tail), w.total), output_bytes=w.total,
                  elapsed=(w.exited_at or time.monotonic()) - w.started, max_rss_mb=w.max_rss_kb / 1024)
    status = w.wait_status or 0
    if os.WIFSIGNALED(status):
        out.signal = os.WTERMSIG(status)
    elif os.WIFEXITED(status):
        out.exit_status = os.WEXITSTATUS(status)
    if w.timed_out:
        out.stack, out.output, out.output_bytes = _stack_from(bytes(w.head), bytes(w.tail), w.total)
        out.failure = "timeout"
        out.message = (f"stopped after the time limit of {limits.timeout:g} s (--timeout): an endless loop, or a "
                       f"computation far too large (sizes, or a formula that blows up when expanded)")
        return out
    if w.result and not w.result_too_large:
        try:
            value = json.loads(bytes(w.result).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            value = None
        if isinstance(value, dict):
            out.value = value
            return out
        out.failure = "result"
        out.message = "the worker sent a result that is not a JSON document"
        return out
    if w.result_too_large:
        out.failure = "result"
        out.message = f"the worker's result was larger than {RESULT_LIMIT >> 20} MiB and was refused"
        return out
    if out.signal is not None:
        name = signal.Signals(out.signal).name if out.signal in signal.Signals._value2member_map_ else str(out.signal)
        out.failure = "signal"
        if out.signal == signal.SIGKILL:
            out.message = ("was killed (SIGKILL) before it finished: most likely by the system for using too much "
                           f"memory (it reached {out.max_rss_mb:.0f} MiB)")
        elif out.signal == getattr(signal, "SIGXCPU", None):
            out.message = "used more CPU time than allowed and was stopped (SIGXCPU)"
        else:
            out.message = (f"crashed ({name}) before it finished: a crash in compiled code the derivation calls, "
                           f"or memory exhausted")
        return out
    out.failure = "exit"
    out.message = (f"ended its process with exit status {out.exit_status} before a result: the derivation calls "
                   f"os._exit() (or ends the interpreter another way) at import or inside its functions")
    return out
