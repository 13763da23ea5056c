"""Run a campaign's stages in order in its run directory; a stage done is never run again."""

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from lotf.config import Campaign
from lotf.context import Context
from lotf.doctor import repair
from lotf.errors import UserError
from lotf.faults import checkpoint
from lotf.labelling import label
from lotf.learning.fit_cache import FitCache
from lotf.learning.learner import Learner
from lotf.ledger import Ledger
from lotf.log import configure, logger
from lotf.md import groups
from lotf.offline import nothing_new
from lotf.oracle.preflight import preflight
from lotf.schema import load_config
from lotf.stages.registry import registered
from lotf.store import RunDir, atomic_write

DEFAULT_RUNS = Path("runs")


def prepare(config_path: Path, workdir: Path | None, base_dir: Path | None = None
            ) -> tuple[Campaign, RunDir, Path]:
    """Validate the config and pick the run directory (an existing run directory resumes).
    Relative paths in the config are taken from `base_dir`, by default the config's folder."""
    if config_path.is_dir():  # `lotf run DIR`: resume with the config stored there
        run = RunDir(config_path)
        if not run.exists():
            raise UserError(f"{config_path} is a folder but not a lotf run directory")
        return load_config(run.config, base_dir=_stored_base(run)), run, _stored_base(run)
    base_dir = base_dir or config_path.resolve().parent
    config = load_config(config_path, base_dir=base_dir)
    run = RunDir(workdir if workdir is not None else DEFAULT_RUNS / config.name)
    return config, run, base_dir


def run_campaign(config_path: Path, workdir: Path | None = None, verbose: bool = False,
                 base_dir: Path | None = None, fit_cache: Path | None = None) -> RunDir:
    """Run (or resume) every stage the campaign lists, recording each in the state file; a
    study's members share the fits in `fit_cache` (lotf.learning.fit_cache)."""
    config, run, base_dir = prepare(config_path, workdir, base_dir)
    groups.check_launch(config)
    stages = run.read_state()["stages"]  # the oracle is checked before the run directory is made
    if any(stages.get(name, {}).get("status") != "done" for name in config.stages):
        preflight(config.oracle, config.system.species)
    with run.locked():
        configure(run.log_file, verbose)
        findings = repair(run)
        for finding in findings:
            logger.warning("%s", finding)
        _store_config(run, config_path, base_dir)
        logger.info("campaign %s in %s", config.name, run.path)
        context = Context(config, run, Ledger(run.ledger_file),
                          FitCache(fit_cache) if fit_cache is not None else None)
        Learner(context).repair()
        state = run.read_state()
        state["base_dir"] = str(base_dir)
        for name in config.stages:
            if state["stages"].get(name, {}).get("status") == "done":
                logger.info("stage %s: already done", name)
                continue
            state["stage"] = name
            state["stages"][name] = {"status": "running", "started": _now()}
            run.write_state(state)
            start = time.perf_counter()
            summary = registered()[name].run(context)
            seconds = time.perf_counter() - start
            state = run.read_state()  # the stage may have recorded its own progress
            state["stages"][name] = {"status": "done", "seconds": round(seconds, 1), **summary}
            run.write_state(state)
            checkpoint("stage")
            logger.info("stage %s: done in %.1f s", name, seconds)
        logger.info("labelled data: %s (%d configurations; browse with `ase db %s`)",
                    run.ledger_file, len(context.ledger), run.ledger_file)
        generation = run.latest_generation()
        if generation is not None:
            logger.info("potential: %s (MLIP .mtp, species and active set)",
                        run.generation_dir(generation))
        if run.results_file.is_file():
            logger.info("report: %s, figures in %s", run.results_file, run.figures)
        logger.info("structures: %s; full log: %s", run.structures, run.log_file)
    return run


def report(path: Path) -> list[str]:
    """Rerun every finished analysis stage of the run at `path` on what it holds (results.json
    and figures rewritten), with no oracle call, MD or fit; the stages redone, in order."""
    with _existing(path) as run:
        config = load_config(run.config, base_dir=_stored_base(run))
        context = Context(config, run, Ledger(run.ledger_file))
        done = run.read_state()["stages"]
        names = [name for name in config.stages
                 if registered()[name].reports and done.get(name, {}).get("status") == "done"]
        with nothing_new("lotf report only redraws finished stages; `lotf run DIR` computes"):
            for name in names:
                registered()[name].run(context)
                logger.info("report: stage %s redrawn", name)
    return names


def doctor(path: Path) -> list[str]:
    """Repair the run directory at `path` as `lotf run` would before going on; what was done."""
    with _existing(path) as run:
        done = [str(finding) for finding in repair(run)]
        config = load_config(run.config, base_dir=_stored_base(run))
        context = Context(config, run, Ledger(run.ledger_file))
        done += [f"{run.generation_dir(g).relative_to(run.path)}: damaged; retrained from the "
                 "ledger" for g in Learner(context).repair()]
    return done


def retry_quarantined(path: Path) -> dict[str, int]:
    """Label again every configuration quarantined in the run at `path` (after the user fixed
    the cause), each under the source it was asked for; the ledger keeps its earlier attempts."""
    with _existing(path) as run:
        config = load_config(run.config, base_dir=_stored_base(run))
        preflight(config.oracle, config.system.species)
        ledger = Ledger(run.ledger_file)
        by_source: dict[str, list] = {}
        for key, atoms, source in ledger.quarantined():
            ledger.requeue(key)
            by_source.setdefault(source, []).append(atoms)
        labelled = quarantined = 0
        for source, structures in by_source.items():
            report = label(structures, ledger, config.oracle, run.oracle_calls, source)
            labelled, quarantined = labelled + report.labelled, quarantined + report.quarantined
        return {"retried": sum(len(s) for s in by_source.values()), "labelled": labelled,
                "quarantined": quarantined}


@contextlib.contextmanager
def _existing(path: Path) -> Iterator[RunDir]:
    """The run directory at `path`, locked and logging to its log (refused if it is none)."""
    run = RunDir(path)
    if not run.exists():
        raise UserError(f"{path} is not a lotf run directory (it has no campaign.yaml)")
    with run.locked():
        configure(run.log_file, verbose=False)
        yield run


def _store_config(run: RunDir, config_path: Path, base_dir: Path) -> None:
    """Keep the config beside the results; a changed config is kept too, with the time it ended."""
    if config_path.is_dir():
        return
    text = config_path.read_text()
    if run.config.is_file() and run.config.read_text() != text:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        run.config.rename(run.path / f"campaign.until-{stamp}.yaml")
        logger.warning("the config differs from the one this run started with; "
                       "kept the old one as campaign.until-%s.yaml", stamp)
    if not run.config.is_file():
        atomic_write(run.config, lambda handle: handle.write(text))


def _stored_base(run: RunDir) -> Path:
    """Where relative paths in a stored config point: the original config's folder."""
    return Path(run.read_state().get("base_dir", run.path))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
