"""A one-node SLURM cluster for tests, started as root from Debian's slurmctld, slurmd and
munge in a temporary folder, and stopped by their pid files:

    with SlurmCluster(tmp_path) as cluster:
        subprocess.run(["srun", "-n", "2", ...], env=cluster.env)

Raises Unavailable (with the reason) where this machine cannot run one: not root, the
packages missing, or the daemons not coming up; callers skip with that message."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class Unavailable(Exception):
    pass


class SlurmCluster:
    def __init__(self, folder=None, cpus=None):
        # the daemons run as other users: a folder they can all reach (pytest's tmp_path
        # sits under a root-only folder)
        self.dir = tempfile.mkdtemp(prefix="anneal-slurm-")
        os.chmod(self.dir, 0o755)
        self.cpus = cpus or os.cpu_count() or 2
        self.env = None

    def __enter__(self):
        if os.geteuid() != 0:
            raise Unavailable("a test SLURM cluster needs root (munge and slurmd run as root here)")
        for tool in ("slurmctld", "slurmd", "srun", "sinfo", "munged"):
            if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
                raise Unavailable(f"{tool} is not installed (slurmctld slurmd slurm-client munge)")
        host = socket.gethostname()
        d = self.dir
        for sub in ("state", "spool", "log", "munge"):
            os.makedirs(f"{d}/{sub}", exist_ok=True)
        # munge: a key of our own and a daemon on its own socket
        key = f"{d}/munge/munge.key"
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        shutil.chown(f"{d}/munge", "munge", "munge")
        shutil.chown(key, "munge", "munge")
        os.chmod(key, 0o400)
        os.chmod(f"{d}/munge", 0o700)
        self.munge_socket = f"{d}/munge/munge.socket"
        sbin = lambda t: shutil.which(t) or f"/usr/sbin/{t}"
        r = subprocess.run(["su", "-s", "/bin/sh", "munge", "-c",
                            f"{sbin('munged')} --key-file={key} --socket={self.munge_socket} "
                            f"--pid-file={d}/munge/munged.pid --log-file={d}/munge/munged.log "
                            f"--seed-file={d}/munge/seed --force"], capture_output=True, text=True)
        if r.returncode != 0:
            raise Unavailable(f"munged did not start: {r.stderr.strip()}")
        conf = f"{d}/slurm.conf"
        port = 20000 + os.getpid() % 10000
        with open(conf, "w") as f:
            f.write(f"""ClusterName=annealtest
SlurmctldHost={host}
SlurmUser=root
SlurmctldPort={port}
SlurmdPort={port + 1}
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SchedulerType=sched/backfill
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ReturnToService=2
MpiDefault=none
NodeName={host} CPUs={self.cpus} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
""")
        self.env = dict(os.environ, SLURM_CONF=conf)
        for daemon in ("slurmctld", "slurmd"):
            r = subprocess.run([sbin(daemon), "-f", conf], env=self.env, capture_output=True, text=True)
            if r.returncode != 0:
                self.__exit__(None, None, None)
                raise Unavailable(f"{daemon} did not start: {r.stderr.strip()}")
        end = time.monotonic() + 30
        while time.monotonic() < end:
            r = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True)
            if r.stdout.strip() in ("idle", "mix", "alloc"):
                return self
            time.sleep(0.3)
        log = open(f"{d}/log/slurmctld.log").read()[-2000:] if os.path.exists(f"{d}/log/slurmctld.log") else ""
        self.__exit__(None, None, None)
        raise Unavailable(f"the SLURM node did not become idle within 30 s: {log}")

    def __exit__(self, *exc):
        for pidfile in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
            path = f"{self.dir}/{pidfile}"
            try:
                pid = int(open(path).read().strip())
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
