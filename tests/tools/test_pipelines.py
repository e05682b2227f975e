"""`anneal pipeline run` end to end: steps in dependency order, the cache (an unchanged
pipeline runs nothing; a changed input reruns exactly its step and those after it;
--force-rerun reruns all), failures, and the file's errors."""
import json
import os
import textwrap

import pytest

PY = "/usr/bin/python3"


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def make(tmp_path, fail_step=None, continue_on_failure=False):
    """a -> b -> d, c independent (a's input is a folder; each step writes its output)."""
    write(tmp_path / "data" / "x.txt", "1 2 3\n")
    write(tmp_path / "step.py", """\
        import os, sys
        name, out = sys.argv[1], sys.argv[2]
        ins = [a for a in sys.argv[3:] if not a.startswith("--")]
        flags = "".join(a for a in sys.argv[3:] if a.startswith("--"))
        text = name + flags + ":" + "|".join(open(os.path.join(i, f)).read() for i in ins for f in sorted(os.listdir(i)))
        if os.environ.get("FAIL") == name:
            sys.exit(f"step {name} fails on purpose")
        os.makedirs(out, exist_ok=True)
        open(os.path.join(out, "out.txt"), "w").write(text)
        print(text)
        """)
    env = f"environment_variables: {{FAIL: {fail_step}}}" if fail_step else ""
    return write(tmp_path / "pipeline.yaml", f"""\
        experiment: pipes
        inputs:
          raw: {{type: uri_folder, path: data}}
        settings: {{continue_on_step_failure: {str(continue_on_failure).lower()}}}
        jobs:
          a:
            command: {PY} step.py a ${{{{outputs.o}}}} ${{{{inputs.raw}}}}
            inputs: {{raw: "${{{{parent.inputs.raw}}}}"}}
            outputs: {{o: {{type: uri_folder}}}}
            {env}
          b:
            command: {PY} step.py b ${{{{outputs.o}}}} ${{{{inputs.x}}}}
            inputs: {{x: "${{{{parent.jobs.a.outputs.o}}}}"}}
            outputs: {{o: {{type: uri_folder}}}}
            {env}
          c:
            command: {PY} step.py c ${{{{outputs.o}}}}
            outputs: {{o: {{type: uri_folder}}}}
            {env}
          d:
            command: {PY} step.py d ${{{{outputs.o}}}} ${{{{inputs.x}}}} ${{{{inputs.y}}}}
            inputs:
              x: "${{{{parent.jobs.b.outputs.o}}}}"
              y: "${{{{parent.jobs.c.outputs.o}}}}"
            outputs: {{o: {{type: uri_folder}}}}
            {env}
        """)


def run(anneal, f, *args, check=True):
    r = anneal("pipeline", "run", f, *args, check=check)
    pid = r.stdout.split("anneal: pipeline ")[1].split()[0]
    return r, {s["name"]: s for s in json.loads(anneal("pipeline", "show", pid, "--json").stdout)["steps"]}, pid


def test_steps_run_in_order_and_an_unchanged_pipeline_runs_nothing(anneal, tmp_path):
    f = make(tmp_path)
    r, steps, pid = run(anneal, f)
    assert all(s["status"] == "completed" and not s["reused_from"] for s in steps.values())
    d_out = open(os.path.join(steps["d"]["outputs"]["o"], "out.txt")).read()
    assert d_out == "d:b:a:1 2 3\n|c:"  # d read b's output (which read a's) and c's
    started = [l.split()[3] for l in r.stdout.splitlines() if l.endswith(")") and " started " in l]
    assert started.index("a") < started.index("b") < started.index("d") and started.index("c") < started.index("d")
    # the pipeline and its steps are runs: the steps' parent is the pipeline
    for s in steps.values():
        assert anneal.show(s["run_id"])["tags"]["pipeline"] == pid
    _, again, _ = run(anneal, f)
    assert all(s["reused_from"] == steps[n]["run_id"] for n, s in again.items()), again
    assert "reused from run" in anneal("pipeline", "show", _).stdout


def test_a_changed_input_reruns_its_step_and_what_follows_and_force_reruns_all(anneal, tmp_path):
    f = make(tmp_path)
    _, first, _ = run(anneal, f)
    (tmp_path / "data" / "x.txt").write_text("1 2 3 4\n")
    _, second, _ = run(anneal, f)
    rerun = sorted(n for n, s in second.items() if not s["reused_from"])
    assert rerun == ["a", "b", "d"], second  # c reads nothing that changed
    assert open(os.path.join(second["d"]["outputs"]["o"], "out.txt")).read() == "d:b:a:1 2 3 4\n|c:"
    # a changed setting of one step (in the pipeline file) reruns that step and d, which
    # reads its (now different) output; a rerun step whose output comes out the same would
    # leave the steps after it reused (the cache keys content, as DVC does)
    f.write_text(f.read_text().replace("step.py c ${{outputs.o}}", "step.py c ${{outputs.o}} --v2"))
    _, third, _ = run(anneal, f)
    assert sorted(n for n, s in third.items() if not s["reused_from"]) == ["c", "d"], third
    _, forced, _ = run(anneal, f, "--force-rerun")
    assert all(not s["reused_from"] for s in forced.values())


def test_a_failing_step_stops_what_follows_it_and_the_rest_unless_told(anneal, tmp_path):
    f = make(tmp_path, fail_step="b")
    r, steps, pid = run(anneal, f, check=False)
    assert r.returncode != 0
    assert steps["b"]["status"] == "failed" and "fails on purpose" in steps["b"]["error"]
    assert steps["d"]["status"] == "skipped"
    assert anneal.show(pid)["status"] == "failed"
    f = make(tmp_path / "go-on", fail_step="b", continue_on_failure=True)
    r, steps, pid = run(anneal, f, check=False)
    assert steps["b"]["status"] == "failed" and steps["d"]["status"] == "skipped"
    assert steps["a"]["status"] == "completed" and steps["c"]["status"] == "completed"


@pytest.mark.parametrize("body, message", [
    ("jobs:\n  a:\n    command: run ${{inputs.x}}\n    inputs: {x: \"${{parent.jobs.a.outputs.o}}\"}\n    outputs: {o: {type: uri_folder}}\n",
     "a step cannot read its own outputs"),
    ("jobs:\n  a:\n    command: run\n    inputs: {x: \"${{parent.jobs.b.outputs.o}}\"}\n    outputs: {o: {type: uri_folder}}\n"
     "  b:\n    command: run\n    inputs: {x: \"${{parent.jobs.a.outputs.o}}\"}\n    outputs: {o: {type: uri_folder}}\n",
     "in a cycle: a -> b -> a"),
    ("jobs:\n  a:\n    command: run\n    inputs: {x: \"${{parent.jobs.prep.outputs.o}}\"}\n",
     "there is no step 'prep'"),
    ("jobs:\n  a:\n    command: run\n    outputs: {o: {type: uri_folder}}\n  b:\n    command: run\n"
     "    inputs: {x: \"${{parent.jobs.a.outputs.model}}\"}\n", "step 'a' declares no output 'model'"),
    ("jobs:\n  a:\n    command: run ${{parent.inputs.lr}}\n", "the pipeline has no input 'lr'"),
    ("jobs:\n  a:\n    command: run\n    epochs: 3\n", "epochs: belongs to the built-in trainer"),
])
def test_pipeline_mistakes_name_the_step(anneal, tmp_path, body, message):
    f = write(tmp_path / "p.yaml", body)
    r = anneal("pipeline", "run", f, check=False)
    assert r.returncode == 2 and message in r.stderr, r.stderr
