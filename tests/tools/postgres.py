"""A PostgreSQL server for tests: Debian's postgresql (15) started in a temporary folder on
a free loopback port, with trust authentication, stopped at the end:

    with PostgresServer() as pg:
        uri = pg.uri            # postgresql://postgres@127.0.0.1:PORT/postgres

Raises Unavailable (with the reason) where this machine cannot run one (the package
missing, initdb or the server failing); callers skip with that message."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


class Unavailable(Exception):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.dir = None
        self.uri = None
        self._as_user = None

    def _run(self, args):
        cmd = args if self._as_user is None else ["su", self._as_user, "-s", "/bin/sh", "-c",
                                                   " ".join(f"'{a}'" for a in args)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def __enter__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise Unavailable("PostgreSQL is not installed (apt install postgresql; .ci/run does)")
        bindir = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="anneal-pg-")
        # the server refuses to run as root: as the postgres user then
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no postgres user to run the server as")
            self._as_user = "postgres"
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(self.dir, 0o700)
        data = os.path.join(self.dir, "data")
        r = self._run([f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"])
        if r.returncode != 0:
            raise Unavailable(f"initdb failed: {r.stderr.strip()[-400:]}")
        port = _free_port()
        r = self._run([f"{bindir}/pg_ctl", "-D", data, "-o", f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1",
                       "-l", f"{self.dir}/log", "-w", "-t", "60", "start"])
        if r.returncode != 0:
            log = open(f"{self.dir}/log").read()[-600:] if os.path.exists(f"{self.dir}/log") else ""
            raise Unavailable(f"the PostgreSQL server did not start: {r.stderr.strip()[-300:]} {log}")
        self.bindir, self.data, self.port = bindir, data, port
        self.uri = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return self
            time.sleep(0.1)
        raise Unavailable("the PostgreSQL server does not answer on its port")

    def __exit__(self, *exc):
        if self.uri:
            self._run([f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"])
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
