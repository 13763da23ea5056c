"""The `lotf` command: run, study, status, validate, doctor, retry, report, export.

User mistakes print one line and exit 2; a stage that cannot finish exits 1; an interrupted
run (Ctrl-C, SIGTERM from a scheduler) exits 130 and resumes when started again.
"""

import argparse
import errno
import json
import sqlite3
import sys
from importlib import resources
from pathlib import Path

from lotf import __version__, interrupts
from lotf.errors import StageFailed, UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
DISK_PROBLEMS = {  # errors of the machine's disks that the user can fix, not lotf bugs
    errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded", errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
SQLITE_PROBLEMS = {"disk is full": "the disk is full",
                   "readonly database": "the file system is read-only"}


def demo_config() -> Path:
    """The embedded default campaign (configs/demo.yaml)."""
    return Path(str(resources.files("lotf") / "configs" / "demo.yaml"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lotf", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lotf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run or resume a campaign")
    run.add_argument("config", nargs="?", type=Path,
                     help="campaign YAML, or an existing run directory to resume "
                          "(default: the embedded demo)")
    run.add_argument("--workdir", type=Path, help="run directory (default: runs/<name>)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug output on the terminal")
    status = commands.add_parser("status", help="show a campaign's progress (or each member's "
                                 "of a study's folder)")
    status.add_argument("workdir", type=Path)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    validate = commands.add_parser("validate", help="check a campaign file without running it")
    validate.add_argument("config", type=Path)
    doctor = commands.add_parser("doctor", help="find and repair damage in a run directory "
                                 "(lotf run does this too before it goes on)")
    doctor.add_argument("workdir", type=Path)
    retry = commands.add_parser("retry", help="label the quarantined configurations of a run "
                                "again, after fixing what made the oracle fail")
    retry.add_argument("workdir", type=Path)
    report = commands.add_parser("report", help="rewrite results.json and the figures of a run's "
                                 "finished analyses from its directory, computing nothing new")
    report.add_argument("workdir", type=Path)
    export = commands.add_parser("export", help="write a run's potential (.mtp, grade file, "
                                 "LAMMPS snippet) and its training set (extxyz, MLIP .cfg)")
    export.add_argument("workdir", type=Path)
    export.add_argument("--to", type=Path, help="the folder to write (default: DIR/export)")
    export.add_argument("--generation", type=int, help="default: the newest committed one")
    study = commands.add_parser("study", help="run or resume a study: campaigns in order, each "
                                "reading earlier ones' run directories")
    study.add_argument("study", type=Path, help="study YAML (e.g. configs/paper/study.yaml)")
    study.add_argument("--workdir", type=Path, help="the study's folder (default: runs/<name>)")
    study.add_argument("--scale", type=float, help="every MD run length times this factor "
                       "(0.01: the paper's study on a laptop); default: the study file's")
    study.add_argument("-v", "--verbose", action="store_true", help="debug output on the terminal")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code. Under MPI the controller ends the job's other ranks
    as it exits (`lotf.md.groups`)."""
    from lotf.md import groups

    args = _parser().parse_args(argv)
    interrupts.install()
    code = 1  # an unexpected error's, as Python's own
    try:
        code = _main(args)
        return code
    finally:
        if groups.active() is not None:
            groups.active().finish(code)


def _main(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.command](args)
    except UserError as error:
        print(f"lotf: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except StageFailed as error:
        print(f"lotf: stage failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lotf: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:
        if error.errno not in DISK_PROBLEMS:
            raise
        return _disk_problem(error.filename or "a file of the run directory",
                             DISK_PROBLEMS[error.errno])
    except sqlite3.OperationalError as error:  # the ledger's own words for the same problems
        problem = next((why for words, why in SQLITE_PROBLEMS.items() if words in str(error)),
                       None)
        if problem is None:
            raise
        return _disk_problem("the ledger (ledger.db)", problem)


def _disk_problem(what: str, problem: str) -> int:
    print(f"lotf: error: cannot write {what}: {problem}; what was finished is kept, run again "
          "once the disk is fixed", file=sys.stderr)
    return EXIT_USER_ERROR


def _run(args: argparse.Namespace) -> int:
    from lotf.campaign import prepare, run_campaign
    from lotf.md import groups

    config = args.config or demo_config()
    # under mpiexec/srun: rank 0 goes on as the campaign, the others serve its MD and exit
    groups.join(lambda: groups.layout_of(prepare(config, args.workdir)[0]))
    run_campaign(config, args.workdir, args.verbose)
    return 0


def _status(args: argparse.Namespace) -> int:
    from lotf.status import render, status

    report = status(args.workdir)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from lotf.oracle.preflight import preflight
    from lotf.schema import load_config

    config = load_config(args.config)
    preflight(config.oracle, config.system.species)
    print(f"{args.config}: valid campaign '{config.name}' (stages: {', '.join(config.stages)})")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from lotf.campaign import doctor

    findings = doctor(args.workdir)
    for finding in findings:
        print(finding)
    where = args.workdir.resolve()
    print(f"{where}: {len(findings)} problem(s) found and repaired" if findings else
          f"{where}: nothing to repair")
    return 0


def _retry(args: argparse.Namespace) -> int:
    from lotf.campaign import retry_quarantined

    counts = retry_quarantined(args.workdir)
    print(f"{counts['retried']} quarantined configuration(s) retried: {counts['labelled']} "
          f"labelled, {counts['quarantined']} quarantined again")
    return 0


def _report(args: argparse.Namespace) -> int:
    from lotf.campaign import report

    redone = report(args.workdir)
    where = args.workdir.resolve()
    print(f"{where}: redrew {', '.join(redone)} (results.json, figures/)" if redone else
          f"{where}: no finished analysis stage to redraw")
    return 0


def _export(args: argparse.Namespace) -> int:
    from lotf.export import SNIPPET, export

    out = export(args.workdir, args.to, args.generation)
    print(f"exported to {out}: pot.mtp, training.extxyz, training.cfg, {SNIPPET}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from lotf.md import groups
    from lotf.study import run_study, study_layout

    # under mpiexec/srun: rank 0 runs the members in turn, the others serve every member's MD
    groups.join(lambda: study_layout(args.study))
    folder = run_study(args.study, args.workdir, args.scale, args.verbose)
    print(f"study done: {folder} (one run directory per campaign; study.json)")
    return 0


_COMMANDS = {"run": _run, "study": _study, "status": _status, "validate": _validate, "doctor": _doctor,
             "retry": _retry, "report": _report, "export": _export}
