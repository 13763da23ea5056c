"""`mpiexec -n N lotf run` and `srun lotf run`: one controller rank, MD on groups of the other
ranks with the walkers at once, every label exactly once, launchers that cannot work refused in
one line, SIGTERM while MD runs, and the MPI batch script requeued at its time limit."""

import json
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from slurm import slurm, wait_for
from test_md import emt_cu, fitted, lattice
from test_study import _study

from lotf.ledger import Ledger
from lotf.md.ranks import mpiexec
from lotf.md.run import MDSettings, run_md

from conftest import emt_campaign, md_rounds, processes_naming, run_job
from oracles import count_calls
from test_learn import LEARN, _status

pytest.importorskip("mpi4py", reason="lotf run under MPI needs mpi4py")
ROOT = Path(__file__).parent.parent
TWO_WALKERS = {**LEARN, "stages": ["bootstrap", "learn"],
               "active_learning": {**LEARN["active_learning"], "walkers": 2}}


def mpi_campaign(tmp_path: Path, counter: str, **changes) -> Path:
    """The two-walker EMT campaign, with `changes` merged into its md section."""
    extra = {**TWO_WALKERS, "md": {**TWO_WALKERS["md"], **changes}}
    return emt_campaign(tmp_path, counter, count=4, **extra)


def launch(ranks: int, config: Path, workdir: Path, env: dict,
           **popen) -> subprocess.Popen:
    command = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "lotf", "run", str(config),
               "--workdir", str(workdir)]
    return subprocess.Popen(command, env={**env, "OMP_NUM_THREADS": "1"}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def assert_exactly_once(workdir: Path, counter: str) -> None:
    ledger = Ledger(workdir / "ledger.db")
    assert count_calls(counter) == len(ledger) == len(ledger.labelled())


def assert_once_but_lost_in_flight(workdir: Path, counter: str, workers: int = 2) -> None:
    """Every label once, but for calls a stop killed before they answered (at most one per
    oracle worker; asked again on resume): a SIGTERM can come just as a quick break's labels
    are asked."""
    ledger = Ledger(workdir / "ledger.db")
    assert len(ledger) == len(ledger.labelled())
    assert len(ledger) <= count_calls(counter) <= len(ledger) + workers


def test_walkers_explore_at_once_on_groups_of_the_job(tmp_path, counter, env_with_tests):
    config = mpi_campaign(tmp_path, counter)
    done = launch(3, config, tmp_path / "run", env_with_tests)
    output, _ = done.communicate(timeout=600)
    assert done.returncode == 0, output[-3000:]
    status = _status(tmp_path / "run")
    assert status["converged"] is True and status["breaks"] >= 1
    log = (tmp_path / "run" / "logs" / "lotf.log").read_text()
    # two groups of one rank: while neither walker has converged, both run in each round
    found = md_rounds(log)
    assert found and all(walkers == ["0", "1"] for walkers in found), found
    assert_exactly_once(tmp_path / "run", counter)
    trajectories = tmp_path / "run" / "trajectories"
    for walker in (0, 1):
        assert list(trajectories.glob(f"*/gen-*-walker-{walker}.extxyz"))


@pytest.fixture(scope="module")
def narrow():
    return fitted(emt_cu(40, (0.01, 0.03), 0.0, seed=1))


def test_a_group_of_two_ranks_gives_what_mpiexec_of_its_own_gives(narrow, tmp_path,
                                                                    env_with_tests):
    settings = MDSettings("nvt", (1500.0, 1500.0), 3000, thermo_every=50, dump_every=10,
                          ranks=2)
    own = run_md(narrow, lattice(), settings, trajectory=tmp_path / "own.extxyz")
    narrow.save(tmp_path / "potential")
    (tmp_path / "input.pickle").write_bytes(pickle.dumps((lattice(), settings)))
    done = run_job([mpiexec(), "-n", "3", sys.executable,
                    str(Path(__file__).parent / "groups_script.py"), str(tmp_path)],
                   timeout=300, env=env_with_tests)
    assert done.returncode == 0, done.stdout + done.stderr
    group = pickle.loads((tmp_path / "result.pickle").read_bytes())
    assert (group.steps, group.halted, group.break_step) == (own.steps, own.halted,
                                                              own.break_step)
    assert [a.info["step"] for a in group.candidates] == [a.info["step"] for a in own.candidates]
    assert np.abs(group.final.positions - own.final.positions).max() < 1e-9
    assert group.thermo["temp"] == pytest.approx(own.thermo["temp"], rel=1e-9)
    assert (tmp_path / "group.extxyz").read_text() == (tmp_path / "own.extxyz").read_text()


def test_ranks_that_cannot_make_groups_are_refused_in_one_line(tmp_path, counter, env_with_tests):
    config = mpi_campaign(tmp_path, counter, ranks=2)
    done = launch(2, config, tmp_path / "run", env_with_tests)
    output, _ = done.communicate(timeout=120)
    assert done.returncode == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines == ["lotf: error: lotf run has 2 MPI ranks, but runs as one controller and "
                     "groups of md.ranks = 2: start it on 3, 5, ... ranks"], lines
    assert count_calls(counter) == 0 and not (tmp_path / "run").exists()


def _mpi_study(tmp_path, counter: str, joint_md_ranks: int | None = None) -> Path:
    """The two-member study of test_study (`cu` learns, `joint` consolidates it), `cu` with
    two walkers; `joint` asking for its own md.ranks if given."""
    study, folder = _study(tmp_path, counter)
    cu = yaml.safe_load((folder / "cu.yaml").read_text())
    cu["active_learning"]["walkers"] = 2
    (folder / "cu.yaml").write_text(yaml.safe_dump(cu, sort_keys=False))
    if joint_md_ranks is not None:
        joint = yaml.safe_load((folder / "joint.yaml").read_text())
        joint["md"] = {"ranks": joint_md_ranks}
        (folder / "joint.yaml").write_text(yaml.safe_dump(joint, sort_keys=False))
    return study


def test_a_study_runs_its_members_on_the_groups_of_one_job(tmp_path, counter, env_with_tests):
    study = _mpi_study(tmp_path, counter)
    runs = tmp_path / "runs"
    done = subprocess.run([mpiexec(), "-n", "3", sys.executable, "-m", "lotf", "study",
                           str(study), "--workdir", str(runs), "--scale", "0.1"],
                          env={**env_with_tests, "OMP_NUM_THREADS": "1"}, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    record = json.loads((runs / "study.json").read_text())
    assert record["done"] == ["cu", "joint"]
    assert _status(runs / "cu")["converged"] is True
    # the learning member's two walkers ran at once, on the job's two MD groups
    found = md_rounds((runs / "cu" / "logs" / "lotf.log").read_text())
    assert found and all(walkers == ["0", "1"] for walkers in found), found
    assert_exactly_once(runs / "cu", counter)
    assert len(Ledger(runs / "joint" / "ledger.db")) == len(Ledger(runs / "cu" / "ledger.db"))


def test_study_members_asking_for_other_ranks_are_refused_before_any_call(tmp_path, counter,
                                                                          env_with_tests):
    """`joint` reads `cu`, so it cannot be validated before `cu` ran; its md.ranks is still
    checked before the first member starts."""
    study = _mpi_study(tmp_path, counter, joint_md_ranks=2)
    done = subprocess.run([mpiexec(), "-n", "3", sys.executable, "-m", "lotf", "study",
                           str(study), "--workdir", str(tmp_path / "runs")],
                          env=env_with_tests, text=True, capture_output=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert lines == ["lotf: error: study member 'joint' shares this MPI job's ranks as md.ranks "
                     "= 2 but 'cu' as md.ranks = 1: the members run one after another in one "
                     "job, so give them the same md.ranks (and oracle.workers and ranks with "
                     "executor mpi), or run each with its own `lotf run`"], lines
    assert count_calls(counter) == 0 and not (tmp_path / "runs" / "cu").exists()


def test_a_launcher_that_gives_each_rank_its_own_world_is_refused(tmp_path, counter,
                                                                  env_with_tests):
    """What Open MPI's mpirun (or srun without --mpi=pmi2) does to lotf's MPICH: each rank is
    a world of one, and would run the campaign alone."""
    config = mpi_campaign(tmp_path, counter)
    launchers = [[sys.executable]]  # PMI_SIZE says 2, but no process manager answers
    env = {**env_with_tests, "PMI_SIZE": "2"}
    if shutil.which("mpirun") and "Open MPI" in subprocess.run(
            ["mpirun", "--version"], capture_output=True, text=True).stdout:
        launchers.append(["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2",
                          sys.executable])
    for launcher in launchers:
        done = subprocess.run([*launcher, "-m", "lotf", "run", str(config), "--workdir",
                               str(tmp_path / "run")], env=env if len(launcher) == 1 else
                              env_with_tests, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stdout + done.stderr
        output = done.stdout + done.stderr  # mpirun adds its own banner to lotf's lines
        lines = [line for line in output.splitlines() if line.startswith("lotf:")]
        assert lines and all("each rank's MPI world" in line for line in lines), output
        assert "Traceback" not in output
    assert count_calls(counter) == 0


@pytest.mark.parametrize("md_ranks", [1, 2])  # two groups of one rank, one group of two
def test_sigterm_while_groups_run_md_stops_the_job_and_it_resumes(tmp_path, counter,
                                                                 env_with_tests, md_ranks):
    config = mpi_campaign(tmp_path, counter, ranks=md_ranks)
    long = yaml.safe_load(config.read_text())  # segments of 20 ps: SIGTERM comes during MD
    long["md"]["phases"] = long["md"]["phases"][:1]
    long["md"]["phases"][0]["length"] = "20 ps"
    long["active_learning"]["converge_after"] = "40 ps"
    config.write_text(yaml.safe_dump(long, sort_keys=False))
    log = tmp_path / "run" / "logs" / "lotf.log"
    process = launch(3, config, tmp_path / "run", env_with_tests, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None and \
            "10000 steps (0.0 ps without" not in (log.read_text() if log.is_file() else ""):
        time.sleep(0.1)
    time.sleep(0.5)
    assert process.poll() is None and "10000 steps" in log.read_text()
    process.send_signal(signal.SIGTERM)  # to mpiexec, as a scheduler or Ctrl-C would
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output[-3000:]
    assert "interrupted; run the same command again to resume" in output
    assert "MPI_Abort" not in output  # the groups stopped their MD within STOP_GRACE
    assert processes_naming(tmp_path) == []
    done = launch(3, config, tmp_path / "run", env_with_tests)
    output, _ = done.communicate(timeout=600)
    assert done.returncode == 0, output[-3000:]
    assert _status(tmp_path / "run")["converged"] is True
    assert_once_but_lost_in_flight(tmp_path / "run", counter)


def test_the_mpi_batch_script_stopped_as_at_its_time_limit_is_requeued_and_converges(
        tmp_path, counter, env_with_tests):
    """srun lotf run on 3 tasks; once MD runs, the batch shell gets SIGTERM as Slurm's
    --signal=B:TERM sends it before the time limit (sent here by the test: Slurm's own timing
    is loose by up to a minute): the campaign stops, the script requeues the job, and the
    requeued job converges with both walkers in every round and every label once."""
    slurm()
    config = mpi_campaign(tmp_path, counter)
    long = yaml.safe_load(config.read_text())
    long["md"]["phases"] = long["md"]["phases"][:1]
    long["md"]["phases"][0]["length"] = "20 ps"
    long["active_learning"]["converge_after"] = "40 ps"
    config.write_text(yaml.safe_dump(long, sort_keys=False))
    output = tmp_path / "job.out"
    environment = {**env_with_tests, "CONFIG": str(config), "WORKDIR": str(tmp_path / "job"),
                   "LOTF": f"{sys.executable} -m lotf", "OMP_NUM_THREADS": "1"}
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--ntasks=3", "--overcommit", f"--output={output}",
         "--export=ALL", str(ROOT / "drivers" / "slurm-mpi.sbatch")],
        env=environment, capture_output=True, text=True, check=True, cwd=tmp_path)
    job = submitted.stdout.strip().split(";")[0]
    log = tmp_path / "job" / "logs" / "lotf.log"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and "10000 steps (0.0 ps without" not in (
            log.read_text() if log.is_file() else ""):
        time.sleep(0.1)
    time.sleep(0.5)
    subprocess.run(["scancel", "--batch", "--signal=TERM", job], check=True)
    state, restarts = wait_for(job, timeout=600)
    text = output.read_text() if output.is_file() else ""
    assert state == "COMPLETED", text[-3000:]
    assert restarts == 1 and "requeueing job" in text, text[-3000:]
    assert "interrupted; run the same command again to resume" in text
    assert _status(tmp_path / "job")["converged"] is True
    walkers = md_rounds(log.read_text())
    assert walkers and all(round_ == ["0", "1"] for round_ in walkers), walkers
    assert_once_but_lost_in_flight(tmp_path / "job", counter)
