"""The `calibrate` stage: what the extrapolation grade says about the true error.

Every oracle label of a configuration a potential had graded — a break's selected candidates
(graded by the generation whose MD found them, which never trained on them) and the
validation frames (graded by the validated generation) — gives pairs: each atom's grade and
|ΔF| (per species), each frame's grade (its largest) and |ΔE| per atom and force RMSE. The
pairs are written to calibration/ (CSV), quantile maps fitted on them (lotf.analysis.
calibration), and results.json says what the select threshold means ("grade 1.5 ≈ p95 |ΔF|
of X eV/Å") and what the science stages' frames' grades imply for their errors.
"""

import numpy as np
from ase import Atoms

from lotf.analysis.calibration import QuantileMap
from lotf.context import Context
from lotf.errors import StageFailed
from lotf.generations import selection_generation
from lotf.learning.learner import Learner
from lotf.ledger import VALIDATION, oracle_id
from lotf.log import logger
from lotf.oracle import fingerprint
from lotf.protocols.runner import step_frames
from lotf.report import add_result, pyplot, read_results, save_figure, write_csv
from lotf.stages.registry import LABELS, register_stage
from lotf.store import read_structures

MIN_FRAMES = 20  # fewer labelled frames: the maps are printed, flagged as meaning little


@register_stage("calibrate", needs=(LABELS, "learn"), reports=True)
def calibrate(ctx: Context) -> dict:
    atoms_pairs, frame_pairs = _pairs(ctx)
    if not frame_pairs:
        raise StageFailed("calibrate: no labelled frame was graded by a potential yet (no "
                          "break's selection nor validation frames): run learn and validate")
    folder = ctx.run.calibration
    folder.mkdir(exist_ok=True)
    write_csv(folder / "atoms.csv", atoms_pairs)
    write_csv(folder / "frames.csv", frame_pairs)
    threshold = ctx.config.active_learning.select_threshold
    maps = {"forces": {}}
    for species in sorted({row["species"] for row in atoms_pairs}):
        rows = [row for row in atoms_pairs if row["species"] == species]
        maps["forces"][species] = _fit(rows, "grade", "force_error_ev_per_a")
    maps["forces"]["all"] = _fit(atoms_pairs, "grade", "force_error_ev_per_a")
    maps["frame_energy"] = _fit(frame_pairs, "grade", "energy_error_mev_per_atom", per_bin=20)
    maps["frame_forces"] = _fit(frame_pairs, "grade", "force_rmse_ev_per_a", per_bin=20)
    at_threshold = {species: float(fitted(threshold)) for species, fitted in
                    maps["forces"].items()}
    statement = (f"grade {threshold:g} ≈ p95 |ΔF| of {at_threshold['all']:.3f} eV/Å (" +
                 ", ".join(f"{s} {v:.3f}" for s, v in at_threshold.items() if s != "all") + ")")
    result = {
        "statement": statement,
        "select_threshold": threshold,
        "p95_force_error_at_select_threshold_ev_per_a": at_threshold,
        "frames": len(frame_pairs), "atoms": len(atoms_pairs),
        "sources": sorted({row["source"] for row in frame_pairs}),
        "forces": {species: fitted.as_dict() for species, fitted in maps["forces"].items()},
        "frame_energy_mev_per_atom": maps["frame_energy"].as_dict(),
        "frame_force_rmse_ev_per_a": maps["frame_forces"].as_dict(),
        "science_frames": _science_estimates(ctx, maps),
        "pairs": {"atoms": "calibration/atoms.csv", "frames": "calibration/frames.csv"},
    }
    if len(frame_pairs) < MIN_FRAMES:
        result["flag"] = (f"only {len(frame_pairs)} labelled frames were graded: the map has "
                          "too few pairs to mean much")
    _plot(ctx, atoms_pairs, maps["forces"], threshold)
    path = add_result(ctx.run, "calibration", result)
    logger.info("calibration from %d frames (%d atoms): %s; %s", len(frame_pairs),
                len(atoms_pairs), statement, path)
    for name, estimate in result["science_frames"].items():
        logger.info("  %s: %d frames, median grade %.2f: p95 |ΔE| ≈ %.1f meV/atom, p95 force "
                    "RMSE ≈ %.3f eV/Å%s", name, estimate["frames"], estimate["median_grade"],
                    estimate["p95_energy_error_mev_per_atom"],
                    estimate["p95_force_rmse_ev_per_a"],
                    f" ({estimate['flag']})" if "flag" in estimate else "")
    return {"frames": len(frame_pairs), "statement": statement}


def _pairs(ctx: Context) -> tuple[list[dict], list[dict]]:
    """Per-atom and per-frame (grade, error) rows of every graded oracle label."""
    validated = read_results(ctx.run).get("validation", {}).get("generation")

    def graded_by(source: str) -> int | None:
        return validated if source == VALIDATION else selection_generation(source)

    oracle = oracle_id(fingerprint(ctx.config.oracle.calculator, ctx.config.oracle.params))
    labelled = ctx.ledger.labelled_sources(oracle, lambda source: graded_by(source) is not None)
    learner, potentials, atoms_rows, frame_rows = Learner(ctx), {}, [], []
    for frame, (source, atoms) in enumerate(labelled):
        generation = graded_by(source)
        if generation not in potentials:
            potentials[generation] = learner.generation(generation)
        predicted = potentials[generation].evaluate(atoms)
        force_errors = np.linalg.norm(predicted.forces - atoms.get_forces(), axis=1)
        grades = (predicted.atom_grades if predicted.atom_grades is not None
                  else np.full(len(atoms), predicted.grade))
        common = {"source": source, "generation": generation, "frame": frame}
        atoms_rows += [{**common, "atom": i, "species": symbol, "grade": float(grade),
                        "force_error_ev_per_a": float(error)} for i, (symbol, grade, error) in
                       enumerate(zip(atoms.get_chemical_symbols(), grades, force_errors,
                                     strict=True))]
        frame_rows.append({**common, "grade": float(predicted.grade),
                           "energy_error_mev_per_atom": float(
                               1e3 * abs(predicted.energy - atoms.get_potential_energy()) / len(atoms)),
                           "force_rmse_ev_per_a": float(np.sqrt(np.mean(force_errors**2) / 3))})
    return atoms_rows, frame_rows


def _fit(rows: list[dict], grade: str, error: str, per_bin: int = 50) -> QuantileMap:
    return QuantileMap.fit([row[grade] for row in rows], [row[error] for row in rows],
                           per_bin=per_bin)


def _science_frames(ctx: Context) -> dict[str, list[Atoms]]:
    """The frames the science stages analysed: MD phases that are not learning phases (the
    diffusion ladder) and the protocols' production steps, each with the grade MD recorded."""
    learning = {phase.name for phase in ctx.config.md.phases}
    learner, groups = Learner(ctx), {}
    for phase in ctx.run.trajectory_phases():
        if phase not in learning:
            groups[phase] = [atoms for path in learner.final_trajectories(phase)[1]
                             for atoms in read_structures(path)]
    for protocol in ctx.run.protocols():
        groups[f"{protocol} production"] = [
            atoms for frames in step_frames(ctx, protocol, "production") for atoms in frames]
    return {name: [a for a in frames if "grade" in a.info] for name, frames in groups.items()
            if any("grade" in a.info for a in frames)}


def _science_estimates(ctx: Context, maps: dict) -> dict:
    """For each science stage's frames: their grades and the errors the maps expect there."""
    estimates = {}
    for name, frames in _science_frames(ctx).items():
        grades = np.array([atoms.info["grade"] for atoms in frames])
        energy, forces = maps["frame_energy"](grades), maps["frame_forces"](grades)
        estimate = {"frames": len(frames), "median_grade": float(np.median(grades)),
                    "max_grade": float(grades.max()),
                    "p95_energy_error_mev_per_atom": float(np.median(energy)),
                    "p95_energy_error_worst_frame_mev_per_atom": float(energy.max()),
                    "p95_force_rmse_ev_per_a": float(np.median(forces)),
                    "p95_force_rmse_worst_frame_ev_per_a": float(forces.max())}
        beyond = int(maps["frame_energy"].beyond(grades).sum())
        if beyond:
            estimate["flag"] = (f"{beyond} frames graded above every calibrated grade "
                                f"({maps['frame_energy'].largest:.2f}): their estimate is an "
                                "extrapolation")
        estimates[name] = estimate
    return estimates


def _plot(ctx: Context, rows: list[dict], maps: dict[str, QuantileMap], threshold: float) -> None:
    """|ΔF| against grade for every atom, with each species' p50 and p95 curves."""
    figure, axis = pyplot().subplots(figsize=(6, 4.2))
    grades = np.array([row["grade"] for row in rows])
    axis.scatter(grades, [row["force_error_ev_per_a"] for row in rows], s=2, alpha=0.25,
                 color="grey")
    line = np.geomspace(max(grades.min(), 1e-3), grades.max(), 200)
    for species, fitted in maps.items():
        for quantile, style in ((0.5, ":"), (0.95, "-")):
            axis.plot(line, fitted(line, quantile), style,
                      label=f"{species} p{round(100 * quantile)}")
    axis.axvline(threshold, color="k", lw=0.8, ls="--")
    axis.set_xscale("log")
    axis.set_xlabel("extrapolation grade")
    axis.set_ylabel("|ΔF| per atom (eV/Å)")
    axis.legend(fontsize=7, ncol=2)
    curves = [{"species": species, "grade": float(g), "p50_ev_per_a": float(fitted(g, 0.5)),
               "p95_ev_per_a": float(fitted(g, 0.95))}
              for species, fitted in maps.items() for g in line]
    save_figure(ctx.run, "grade-calibration", figure, curves)  # the pairs: calibration/*.csv
