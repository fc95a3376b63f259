"""Run one local server as a background process we own: pid file, log file, health check, stop.

Each server is a real program started from a package wheel. We never look processes up by
name: the pid file written at start is the only handle, and stop signals its process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod

from ingest.settings import Settings


class StackError(RuntimeError):
    """A server could not be started or stopped; the message names it and its log file."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return reaped == 0


class Service(ABC):
    """One server of the local stack. Subclasses say how to prepare, run and probe it."""

    name: str
    start_timeout = 60.0
    stop_signal = signal.SIGTERM
    stop_timeout = 20.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home / self.name
        self.data_dir = self.dir / "data"
        self.log_file = self.dir / f"{self.name}.log"
        self.pid_file = self.dir / f"{self.name}.pid"

    # --- what a subclass provides -------------------------------------------------------------

    @abstractmethod
    def ports(self) -> list[int]:
        """Every TCP port the server listens on (127.0.0.1)."""

    @abstractmethod
    def command(self) -> list[str]:
        """The foreground command that runs the server until signalled."""

    @abstractmethod
    def healthy(self) -> bool:
        """True when a real client gets an answer. Must not raise."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """One-time initialisation of the data folder; must be idempotent."""

    def after_start(self) -> None:  # noqa: B027 - optional hook
        """Create what the project expects to exist (database, bucket); must be idempotent."""

    def popen_kwargs(self) -> dict:
        """Extra arguments for subprocess.Popen (user, cwd, env)."""
        return {}

    def describe(self) -> str:
        """One line saying how to reach the server."""
        return ", ".join(f"127.0.0.1:{port}" for port in self.ports())

    # --- lifecycle ------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The pid of our running server, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if pid_alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join("    " + line for line in text)

    def fail(self, what: str) -> StackError:
        return StackError(f"{self.name}: {what}. Log: {self.log_file}\n{self._log_tail()}")

    def start(self) -> bool:
        """Start the server unless it already runs; return True if a process was started."""
        if self.pid() is not None:
            if not self.wait_healthy(self.pid()):
                raise self.fail("is running but does not answer")
            return False
        busy = [port for port in self.ports() if not port_is_free(port)]
        if busy:
            raise StackError(
                f"{self.name}: port {', '.join(map(str, busy))} on 127.0.0.1 is busy; stop what "
                f"uses it or choose another port (see `dwh env` for the DWH_* setting)"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with open(self.log_file, "ab") as log:
            log.write(f"--- start {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            log.flush()
            try:
                process = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **self.popen_kwargs(),
                )
            except FileNotFoundError as error:
                raise self.fail(f"program not found ({error.filename}); run `make venv`") from error
        self.pid_file.write_text(f"{process.pid}\n")
        if not self.wait_healthy(process.pid):
            if process.poll() is None:
                self.stop()
                raise self.fail(f"did not answer within {self.start_timeout:.0f}s")
            self.pid_file.unlink(missing_ok=True)
            raise self.fail(f"exited with code {process.returncode} while starting")
        self.after_start()
        return True

    def wait_healthy(self, pid: int) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return False
            if self.healthy():
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> bool:
        """Stop our server by process id: graceful signal, then SIGKILL. True if one ran."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, self.stop_signal)
        deadline = time.monotonic() + self.stop_timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        # The group may hold helpers of the server: make sure none outlives it.
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)
