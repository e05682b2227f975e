"""Starts the ranks of a multi-process test as real processes on this machine, with the
variables a launcher sets (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK, ...),
and collects what each printed."""
import os
import socket
import subprocess
import threading
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ranks:
    """N processes of `argv`; .lines[r] fills as rank r prints (stdout and stderr)."""

    def __init__(self, argv, n, env=None, per_rank_env=None, prefix=None, master_addr="127.0.0.1", port=None):
        self.port = port or free_port()
        self.procs, self.lines, self._readers = [], [], []
        for r in range(n):
            e = dict(os.environ)
            e.update({"RANK": str(r), "WORLD_SIZE": str(n), "LOCAL_RANK": str(r), "LOCAL_WORLD_SIZE": str(n),
                      "MASTER_ADDR": master_addr, "MASTER_PORT": str(self.port), "ANNEAL_NUM_THREADS": "1",
                      "OMP_NUM_THREADS": "1"})
            e.update(env or {})
            if per_rank_env:
                e.update(per_rank_env(r))
            cmd = (prefix(r) if prefix else []) + list(argv)
            p = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.procs.append(p)
            out = []
            self.lines.append(out)
            t = threading.Thread(target=self._read, args=(p, out), daemon=True)
            t.start()
            self._readers.append(t)

    @staticmethod
    def _read(p, out):
        for line in p.stdout:
            out.append(line.rstrip("\n"))

    def text(self, r):
        return "\n".join(self.lines[r])

    def wait_for(self, r, needle, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(needle in l for l in list(self.lines[r])):
                return True
            if self.procs[r].poll() is not None:
                time.sleep(0.1)
                return any(needle in l for l in list(self.lines[r]))
            time.sleep(0.02)
        return False

    def wait(self, timeout):
        """Exit codes (None for a rank still running at the timeout, which is then killed)."""
        end = time.monotonic() + timeout
        codes = []
        for p in self.procs:
            try:
                codes.append(p.wait(timeout=max(0.1, end - time.monotonic())))
            except subprocess.TimeoutExpired:
                codes.append(None)
        self.kill()
        for t in self._readers:
            t.join(timeout=5)
        return codes

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.kill()
                    p.wait(timeout=5)
                except Exception:
                    pass

    def report(self):
        return "\n".join(f"--- rank {r} (exit {p.poll()}):\n{self.text(r)}" for r, p in enumerate(self.procs))
