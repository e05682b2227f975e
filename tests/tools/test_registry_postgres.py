"""The registry on a real PostgreSQL server (started by the pg_server fixture; skipped with
the reason where this machine cannot run one): the C++ registry suite against it, the
command line with --tracking-uri postgresql://..., and sixteen concurrent writers."""
import os
import subprocess

from anneal_fixtures import Anneal
from test_runs import command_job, many_writers


def test_the_registry_suite_passes_on_postgresql(pg_server):
    tests = os.environ.get("ANNEAL_TESTS_BIN")
    assert tests and os.path.exists(tests), "ANNEAL_TESTS_BIN must name anneal_tests (ctest sets it)"
    env = dict(os.environ, ANNEAL_TEST_POSTGRES_URI=pg_server.uri)
    r = subprocess.run([tests, "--gtest_filter=Registry.*:-Registry.RefusesAnUnknownUriAndANewerSchema"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "[  PASSED  ]" in r.stdout and "FAILED" not in r.stdout


def fresh_database(pg_server, name):
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres", "-q", "-c",
                    f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True)
    return pg_server.uri.rsplit("/", 1)[0] + "/" + name


def test_runs_recorded_in_postgresql_from_the_command_line(cli, tmp_path, pg_server):
    anneal = Anneal(cli, tmp_path / "runs", fresh_database(pg_server, "cli_runs"))
    rid = anneal.run_id(anneal("run", command_job(tmp_path)))
    run = anneal.show(rid)
    assert run["status"] == "completed" and run["metrics"]["loss"]["count"] == 20
    assert not os.path.exists(os.path.join(anneal.root, "anneal.db"))  # nothing went to SQLite
    assert [r["id"] for r in anneal.runs("--where", "param.lr = 0.1")] == [rid]


def test_sixteen_concurrent_writers_lose_nothing_on_postgresql(cli, tmp_path, pg_server):
    many_writers(Anneal(cli, tmp_path / "runs", fresh_database(pg_server, "writers")), tmp_path)
