"""The extraction sandbox: markitdown in a long-lived child process, with memory and time limits per file."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import resource
import signal
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from vectorhouse.ingest import extract
from vectorhouse.ingest.extract import INVALID_FILE, ExtractionError, ExtractLimits, kind_name

log = logging.getLogger("vectorhouse.ingest")

# spawn, not fork: the server runs onnxruntime and BLAS threads, whose locks a forked child could
# inherit held. The child pays one interpreter start and markitdown import (~1 s) when it is (re)made.
_CONTEXT = multiprocessing.get_context("spawn")
_START_TIMEOUT = 120.0
# The child's own CPU limit per file, past the parent's wall-clock timeout: it only matters when the
# parent died without killing it.
_CPU_MARGIN_SECONDS = 5
_OUT_OF_MEMORY_EXIT = 3
_PR_SET_PDEATHSIG = 1


class ExtractionTimeout(ExtractionError):
    """The parse ran past its time limit and its process was killed."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(INVALID_FILE, f"reading the {name} file took longer than {seconds:g} s")


class SandboxClosed(Exception):
    """The sandbox was closed (the service is stopping) before or while it parsed a file."""


class ExtractSandbox:
    """A child process that turns rich files into text, used by one thread at a time.

    The child lives across files so a normal file costs no process start; one that runs past the
    timeout, or dies (its address space is capped at limits.max_memory_bytes), is killed and a fresh
    child takes the next file. `close()` may be called from any thread and kills the child at once.
    """

    def __init__(self, limits: ExtractLimits, start_timeout: float = _START_TIMEOUT) -> None:
        self.limits = limits
        self.start_timeout = start_timeout
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._busy = False
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The current child's process id (None before the first rich file or after a kill)."""
        process = self._process
        return process.pid if process is not None else None

    def convert(self, data: bytes, kind: str, timeout: float | None = None) -> str:
        """The text of `data` (already identified as `kind`); ExtractionError when it cannot or may not be had."""
        limit = self.limits.timeout_seconds if timeout is None else min(timeout, self.limits.timeout_seconds)
        limit = max(limit, 0.1)
        name = kind_name(kind)
        process, conn = self._send(data, kind, limit, name)
        try:
            if not conn.poll(limit):
                self._discard(process, conn)
                self._raise_if_closed()
                log.warning("extraction of a %s file passed %g s: its process was killed", name, limit)
                raise ExtractionTimeout(name, limit)
            try:
                reply = conn.recv()
                payload = conn.recv_bytes() if reply[0] == "ok" else b""
            except (EOFError, OSError):
                exitcode = self._discard(process, conn)
                self._raise_if_closed()
                raise self._died(name, exitcode, limit) from None
        finally:
            self._busy = False
        if reply[0] == "ok":
            return payload.decode("utf-8", "surrogatepass")
        if reply[0] == "error":
            raise ExtractionError(reply[1], reply[2])
        # "memory": the child leaves after saying so (its heap may stay huge); the next file gets a new one.
        self._discard(process, conn)
        raise self._out_of_memory(name)

    def close(self) -> None:
        """Kill the child; a thread waiting on it gets SandboxClosed. The sandbox takes no more files."""
        with self._lock:
            self._closed = True
            process, conn, busy = self._process, self._conn, self._busy
            self._process = self._conn = None
        if process is not None:
            _kill(process)
        if conn is not None and not busy:  # a busy connection is closed by the thread using it
            conn.close()

    # -- internal ----------------------------------------------------------------------------

    def _send(self, data: bytes, kind: str, limit: float, name: str) -> tuple[BaseProcess, Connection]:
        for attempt in (1, 2):
            process, conn = self._ready()
            try:
                conn.send((kind, limit))
                conn.send_bytes(data)
                return process, conn
            except OSError:
                self._busy = False
                exitcode = self._discard(process, conn)
                self._raise_if_closed()
                if exitcode == _OUT_OF_MEMORY_EXIT:  # the file alone did not fit in its memory
                    raise self._out_of_memory(name) from None
                if attempt == 2:
                    raise
                # The idle child had died (killed from outside): a fresh one gets the file.
        raise AssertionError("unreachable")

    def _ready(self) -> tuple[BaseProcess, Connection]:
        with self._lock:
            self._raise_if_closed()
            process, conn = self._process, self._conn
            if process is not None and conn is not None and process.is_alive():
                self._busy = True
                return process, conn
        if process is not None and conn is not None:
            self._discard(process, conn)
        process, conn = self._start()
        with self._lock:
            if self._closed:
                _kill(process)
                conn.close()
                raise SandboxClosed()
            self._process, self._conn, self._busy = process, conn, True
        return process, conn

    def _start(self) -> tuple[BaseProcess, Connection]:
        conn, child_end = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_child_main, args=(child_end, os.getpid(), self.limits),
                                   name="vectorhouse-extract", daemon=True)
        process.start()
        child_end.close()
        try:
            ready = conn.poll(self.start_timeout) and conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            _kill(process)
            conn.close()
            raise RuntimeError(f"the extraction process did not start (exit code {process.exitcode})")
        return process, conn

    def _discard(self, process: BaseProcess, conn: Connection) -> int | None:
        """Kill `process` unless close() already took it; its exit code (None if another thread reaped it)."""
        with self._lock:
            mine = self._process is process
            if mine:
                self._process = self._conn = None
        if mine:
            _kill(process)
        conn.close()
        return process.exitcode

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise SandboxClosed()

    def _out_of_memory(self, name: str) -> ExtractionError:
        log.warning("extraction of a %s file ran out of memory: its process was replaced", name)
        mib = self.limits.max_memory_bytes >> 20
        return ExtractionError(INVALID_FILE, f"reading the {name} file needed more than {mib} MiB of memory")

    def _died(self, name: str, exitcode: int | None, limit: float) -> ExtractionError:
        if exitcode == _OUT_OF_MEMORY_EXIT:
            return self._out_of_memory(name)
        if exitcode == -signal.SIGXCPU:
            return ExtractionTimeout(name, limit)
        how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit code {exitcode}"
        log.warning("extraction of a %s file killed its process (%s)", name, how)
        # Under the address-space cap a parser that gets no memory may crash instead of raising.
        return ExtractionError(INVALID_FILE, f"reading the {name} file crashed the parser ({how}); it may need "
                                             f"more than {self.limits.max_memory_bytes >> 20} MiB of memory")


def _kill(process: BaseProcess) -> None:
    if process.is_alive():
        process.kill()
    process.join(10)


# -- the child ---------------------------------------------------------------------------------


def _child_main(conn: Connection, parent_pid: int, limits: ExtractLimits) -> None:
    """Serve files until the parent closes the pipe; runs in the child process."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    extract._get_markitdown()  # loaded before the memory cap, and before the parent's timeout runs
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = limits.max_memory_bytes if hard == resource.RLIM_INFINITY else min(limits.max_memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    conn.send("ready")
    while True:
        try:
            kind, limit = conn.recv()
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent closed its end or died
        except MemoryError:
            os._exit(_OUT_OF_MEMORY_EXIT)
        _limit_cpu(limit)
        try:
            text = extract._convert_rich(data, kind)
            del data
            extract.check_text_size(text, limits.max_extracted_bytes)
            payload = text.encode("utf-8", "surrogatepass")
            del text
        except ExtractionError as exc:
            conn.send(("error", exc.code, exc.message))
            continue
        except MemoryError:
            try:
                conn.send(("memory",))
            finally:
                os._exit(_OUT_OF_MEMORY_EXIT)
        conn.send(("ok",))
        conn.send_bytes(payload)
        del payload


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when the server dies (SIGKILL included), so none is orphaned."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: an idle child still leaves on EOF, a busy one at its CPU limit
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def _limit_cpu(seconds: float) -> None:
    """Cap this file's CPU time, so a child whose parent died mid-file still stops."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + _CPU_MARGIN_SECONDS
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
