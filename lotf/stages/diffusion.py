"""The `diffusion` stage: tracer D over a temperature ladder, and the weighted Arrhenius fit.

Each temperature is an NVT learning phase at the cell of the melt-quench glasses if that stage
ran (the paper's room-temperature cell), else of the last MD phase: it runs until
`production` of MD passes without a break (a break retrains, as in `learn`), and the clean
trajectory of its final potential is analysed, one replica per walker. Colder temperatures
follow until one shows no site-to-site hop (under one effective hop), where the ladder stops.
Each temperature's analysed frames are also sampled (`audit_frames`), labelled and compared with
the potential that ran them; one beyond the `audit` tolerances is flagged (not rerun: a ladder
is the costliest MD of a study). With `interface` set, each temperature also gets the
displacement histogram along the interface normal and the interface-crossing events (figure
diffusion-interface.png).
Writes `diffusion` in results.json and the figures diffusion-arrhenius.png and diffusion-msd.png.
"""

from typing import Annotated, Any

import numpy as np
from ase import Atoms
from pydantic import BeforeValidator, Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from lotf.analysis.arrhenius import ArrheniusFit, caveats, conductivity, fit_arrhenius
from lotf.analysis.diffusion import Diffusivity, combine, tracer_diffusivity
from lotf.analysis.interface import interface_transport
from lotf.analysis.msd import displacements, msd
from lotf.auditing import describe, oracle_errors, sample, within
from lotf.config import Campaign, Phase
from lotf.context import Context
from lotf.crosscheck import unknown_species
from lotf.errors import StageFailed, UserError
from lotf.learning.learner import Learner
from lotf.log import logger
from lotf.model import Strict
from lotf.quantities import (
    MAX_MD_FS,
    MAX_TEMPERATURE,
    RunDurationFs,
    RunFs,
    Species,
    TimeFs,
    Timestep,
)
from lotf.report import add_result, pyplot, save_figure
from lotf.stages.registry import LABELS, Problem, Section, register_stage
from lotf.store import read_structures


def _ladder(value: Any) -> Any:
    """{start, step, lowest} in K: the descending ladder start, start - step, ... >= lowest."""
    if not isinstance(value, dict):
        return value
    if set(value) != {"start", "step", "lowest"} or not all(
            isinstance(v, int | float) and v > 0 for v in value.values()):
        raise ValueError("give a list of temperatures in K, or {start, step, lowest} in K")
    count = int((value["start"] - value["lowest"]) // value["step"]) + 1
    return [value["start"] - i * value["step"] for i in range(max(count, 0))]


class InterfaceTransport(Strict):
    """Transport across the interfaces of a cell stacked along c: displacements along the normal
    and crossing events (the mobile ion bonded to the anions of both sides, not `lag` before)."""

    anions: dict[Species, PositiveFloat] = Field(
        min_length=2, description="bond cutoff (Å) from the mobile ion to each side's anion")
    normal: tuple[float, float, float] = (0.0, 0.0, 1.0)
    lag: TimeFs = Field(1000.0, description="a crossing is new if not bonded to both this before")
    bins: PositiveInt = 40


class Diffusion(Strict):
    """Tracer diffusion of one species at fixed cell over a temperature ladder, each run under
    grade watch (a break retrains and the run starts again), then a weighted Arrhenius fit.
    The ladder stops at the first temperature without a site-to-site hop (the paper's rule)."""

    species: Species = "Li"
    temperatures: Annotated[list[Annotated[PositiveFloat, Field(le=MAX_TEMPERATURE)]],
                            BeforeValidator(_ladder)] = Field(
        min_length=2, max_length=1000, description="K, run in this order; or {start, step, lowest}")
    stop_without_hops: bool = Field(
        True, description="skip the rest once a temperature shows under one effective hop")
    production: RunFs = Field(le=MAX_MD_FS,
                               description="clean MD per temperature (and per walker) analysed")
    equilibration: RunDurationFs = Field(0.0, le=MAX_MD_FS,
                                      description="clean MD before `production`, not analysed")
    length: RunFs = Field(5000.0, le=MAX_MD_FS, description="MD segment")
    timestep: Timestep = 2.0
    hop_length: PositiveFloat = Field(2.5, description="Å between sites, for N_eff")
    window: tuple[PositiveFloat, PositiveFloat] | None = Field(
        None, description="fit window in ps; default 10-50 % of the production run")
    conductivity_at: PositiveFloat = Field(300.0, description="K, for the extrapolated σ")
    directions: dict[str, tuple[float, float, float]] = Field(
        default_factory=dict, description="named directions for 1D D, e.g. {normal: [0, 0, 1]}")
    interface: InterfaceTransport | None = None
    audit_frames: NonNegativeInt = Field(
        2, le=100_000, description="frames of each temperature's analysed run relabelled and held "
        "to the audit tolerances (a temperature beyond them is flagged); 0: none")

    @field_validator("directions")
    @classmethod
    def _nonzero(cls, directions: dict) -> dict:
        for name, vector in directions.items():
            if name in ("total", "x", "y", "z") or not any(vector):
                raise ValueError(f"direction '{name}' needs a new name and a nonzero vector")
        return directions

    def phases(self) -> list[Phase]:
        """One NVT learning phase per temperature, converged after equilibration + production
        clean."""
        return [Phase(name=f"diffusion-{t:g}K", ensemble="nvt", temperature=t,
                      timestep=f"{self.timestep!r} fs", length=f"{self.length!r} fs",
                      converge_after=f"{self.equilibration + self.production!r} fs")
                for t in self.temperatures]

MIN_HOPS = 1.0  # below this many effective hops a temperature shows no diffusion to fit


def _check(config: Campaign) -> list[Problem]:
    """The diffusing species and the interface's anions must be the system's."""
    spec = config.diffusion
    if spec is None:
        return []
    found = unknown_species(config, ("diffusion", "species"), [spec.species],
                            "the diffusing species")
    if spec.interface is not None:
        found += unknown_species(config, ("diffusion", "interface", "anions"),
                                 spec.interface.anions, "interface transport")
    return found


@register_stage("diffusion", section=Section("diffusion", Diffusion | None), needs=(LABELS,),
                trajectories=True, reports=True, check=_check)
def diffusion(ctx: Context) -> dict:
    spec = ctx.config.diffusion
    if spec is None:
        raise UserError("the diffusion stage needs a `diffusion:` section (temperatures, "
                        "production)")
    if not ctx.config.md.dump_every:
        raise UserError("the diffusion stage analyses trajectories: set md.dump_every above 0")
    phases = spec.phases()
    frame_ps = ctx.config.md.dump_every * spec.timestep / 1000.0
    projections = ["total", *spec.directions]
    rows: dict[str, list[dict]] = {name: [] for name in projections}
    curves: dict = {}
    transport: dict[float, dict] = {}
    audits: list[dict | None] = []
    _start_from_glass(ctx, phases[0])
    for index, phase in enumerate(phases):
        Learner(ctx).converge(ctx.config.md.phases + phases[: index + 1])  # resumes, if it ran
        replicas: dict[str, list[Diffusivity]] = {name: [] for name in projections}
        walkers = _production(ctx, phase, round(spec.equilibration / 1000.0 / frame_ps))
        audits.append(_audit(ctx, phase, walkers, index))
        unwrapped: list[np.ndarray] = []  # each walker's positions, for interface transport
        for frames in walkers:
            cell = frames[0]  # fixed cell: the carrier density of every temperature
            carriers = cell.get_chemical_symbols().count(spec.species) / cell.get_volume()
            selected = _unwrapped(frames, spec.species)
            if spec.interface is not None:  # kept only when the transport needs them again
                unwrapped.append(selected)
            result = msd(selected, frame_ps, spec.directions)
            for name in projections:
                replicas[name].append(
                    tracer_diffusivity(result, name, spec.hop_length, spec.window))
            curves.setdefault(phase.temperature, []).append((result, replicas["total"][-1]))
        if spec.interface is not None:
            transport[phase.temperature] = _transport(walkers, unwrapped, phase, spec, frame_ps)
        estimates = {name: _combine(replicas[name]) for name in projections}
        for name, estimate in estimates.items():
            rows[name].append({"temperature_k": phase.temperature, **estimate.as_dict(),
                               "replicas": [r.as_dict() for r in replicas[name]]})
        total = estimates["total"]
        logger.info("diffusion at %g K: D = %.3g ± %.2g cm²/s (%d replica(s), %.0f effective "
                    "hops)", phase.temperature, total.value, total.sigma,
                    len(replicas["total"]), total.n_eff)
        if spec.stop_without_hops and total.n_eff < MIN_HOPS and index + 1 < len(phases):
            logger.info("diffusion: no site-to-site hop at %g K; the colder temperatures are "
                        "not run", phase.temperature)
            break
    fit = _fit(rows["total"])
    result = {"species": spec.species, "temperatures": rows["total"],
              "arrhenius": fit.as_dict() if fit else None}
    if spec.directions:  # one-dimensional D along each direction, each with its own fit
        result["directions"] = {}
        for name in spec.directions:
            directional = _fit(rows[name])
            used = _usable(rows[name])
            result["directions"][name] = {
                "vector": list(spec.directions[name]), "temperatures": rows[name],
                "arrhenius": directional.as_dict() if directional else None,
                "flags": caveats(directional, [r["temperature_k"] for r in used],
                                 hops=[r["n_eff"] for r in used]) if directional else
                ["fewer than two temperatures show diffusion along it"]}
    if transport:
        result["interface"] = [{"temperature_k": t, **entry} for t, entry in transport.items()]
        _transport_figure(ctx, transport)
    fitted = _usable(rows["total"])
    if fit is None:  # the temperatures' D stand; no number is extrapolated from them
        result["extrapolated"] = None
        result["flags"] = [f"fewer than two temperatures show diffusion (at least {MIN_HOPS:g} "
                           "effective hop): no Arrhenius fit, no E_a and no extrapolated D or "
                           "σ; run longer or hotter"]
    else:
        result["extrapolated"] = _extrapolation(fit, carriers, spec.conductivity_at)
        result["flags"] = caveats(fit, [r["temperature_k"] for r in fitted],
                                  spec.conductivity_at, hops=[r["n_eff"] for r in fitted])
    if spec.audit_frames:
        result["audit"] = [entry for entry in audits if entry is not None]
        result["flags"] += [f"at {entry['temperature_k']:g} K the potential is off by "
                            f"{describe(entry)} on the analysed frames, beyond the audit "
                            "tolerance; D there rests on it"
                            for entry in result["audit"] if not entry["passed"]]
    _arrhenius_figure(ctx, rows["total"], fit, spec.conductivity_at, result["flags"])
    _msd_figure(ctx, curves)
    path = add_result(ctx.run, "diffusion", result)
    extrapolated = result["extrapolated"]
    if fit is not None:
        logger.info("diffusion: E_a = %.3f ± %.3f eV; at %g K D = %.3g cm²/s, σ = %.3g ± %.2g "
                    "S/cm; %s", fit.activation_energy, fit.activation_energy_se,
                    spec.conductivity_at, extrapolated["D_cm2_per_s"],
                    extrapolated["conductivity_s_per_cm"],
                    extrapolated["conductivity_se_s_per_cm"], path)
    for flag in result["flags"]:
        logger.warning("diffusion: these numbers mean little: %s", flag)
    return {"activation_energy_ev": fit.activation_energy if fit else None,
            "activation_energy_se_ev": fit.activation_energy_se if fit else None}


def _start_from_glass(ctx: Context, first: Phase) -> None:
    """After a melt-quench, the ladder runs in the glasses' room-temperature cells (the paper's
    fixed lattice): walker k's first temperature starts from glass k, cyclically."""
    glasses_file = ctx.run.glasses
    if not glasses_file.is_file():
        return
    glasses = read_structures(glasses_file)
    learner = Learner(ctx)
    started = learner.started(first.name)
    for walker in range(ctx.config.active_learning.walkers):
        if walker not in started:
            glass = glasses[walker % len(glasses)].copy()
            glass.set_momenta(None)  # new velocities at the ladder's temperature
            learner.start_walker(first.name, walker, glass, "glass")
            logger.info("diffusion: walker %d starts from melt-quench glass %d", walker,
                        walker % len(glasses))


def _audit(ctx: Context, phase: Phase, walkers: list[list[Atoms]], index: int) -> dict | None:
    """`audit_frames` of the temperature's analysed frames labelled and compared with the
    potential that ran them (None if none are asked for or none was labelled)."""
    count = ctx.config.diffusion.audit_frames
    if not count:
        return None
    learner = Learner(ctx)
    generation = learner.final_trajectories(phase.name)[0]
    frames = [atoms for walker in walkers for atoms in walker]
    errors = oracle_errors(ctx, sample(frames, count, [ctx.config.seed, 7919, index]),
                           learner.generation(generation), generation)
    if errors is None:
        logger.warning("diffusion at %g K: the oracle labelled none of the audit's frames",
                       phase.temperature)
        return None
    errors = {"temperature_k": phase.temperature, **errors,
              "passed": within(errors, ctx.config.audit)}
    logger.info("diffusion at %g K, audit of %d frame(s) against the oracle: %s: %s",
                phase.temperature, errors["frames"], describe(errors),
                "within the tolerance" if errors["passed"] else "beyond the tolerance")
    return errors


def _production(ctx: Context, phase: Phase, skip: int) -> list[list[Atoms]]:
    """Each walker's clean trajectory with the phase's final potential, frames in order, the
    first `skip` (equilibration) left out."""
    learner, walkers = Learner(ctx), []
    for walker in range(ctx.config.active_learning.walkers):
        frames: list[Atoms] = []
        for path in learner.final_trajectories(phase.name, walker)[1]:
            segment = read_structures(path)
            # a segment starts at the frame the previous one ended on: keep that frame once
            frames += segment[1:] if frames and segment[0].info.get("step") == 0 else segment
        if len(frames) > skip + 1:
            walkers.append(frames[skip:])
    if not walkers:
        raise StageFailed(f"diffusion: no trajectory of phase {phase.name}")
    return walkers


def _transport(walkers: list[list[Atoms]], unwrapped: list[np.ndarray], phase: Phase,
               spec: Diffusion, frame_ps: float) -> dict:
    """Displacements along the interface normal and crossing events at one temperature."""
    settings = spec.interface
    lag = max(1, round(settings.lag / 1000.0 / frame_ps))
    entry = interface_transport(walkers, unwrapped, spec.species, settings.normal, settings.anions, lag,
                                settings.bins)
    logger.info("diffusion at %g K: %d interface crossing(s); %.0f %% of %s moved over half the "
                "period along the normal", phase.temperature, entry["crossings"],
                100 * entry["fraction_beyond_half_period"], spec.species)
    return entry


def _unwrapped(frames: list[Atoms], species: str) -> np.ndarray:
    """(frames, ions, 3) continuous positions of `species`, drift of the rest removed."""
    mobile = np.array(frames[0].get_chemical_symbols()) == species
    if not mobile.any():
        raise StageFailed(f"diffusion: no {species} atoms in the trajectory")
    pairs = ((atoms.positions, atoms.cell.array) for atoms in frames)
    return displacements(pairs, mobile, framework=~mobile)


def _usable(rows: list[dict]) -> list[dict]:
    """The temperatures that show diffusion: the ones a fit uses."""
    return [r for r in rows if r["n_eff"] >= MIN_HOPS and r["D_cm2_per_s"] > 0]


def _fit(rows: list[dict]) -> ArrheniusFit | None:
    """The weighted fit over the temperatures that show diffusion; None if fewer than two."""
    usable = _usable(rows)
    if len(usable) < 2:
        return None
    return fit_arrhenius(*zip(*[(r["temperature_k"], r["D_cm2_per_s"], r["sigma_cm2_per_s"])
                                for r in usable], strict=True))


def _combine(replicas: list[Diffusivity]) -> Diffusivity:
    """Replicas combined by their variances; a set without any hop stays at D = 0."""
    moving = [r for r in replicas if np.isfinite(r.sigma) and r.sigma > 0]
    if not moving:
        return Diffusivity(0.0, float("inf"), 0.0, replicas[0].window_ps)
    return combine(moving)


def _extrapolation(fit: ArrheniusFit, carriers: float, temperature: float) -> dict:
    """D and the Nernst-Einstein σ at `temperature`, for `carriers` per Å³."""
    value, error = fit.diffusivity(temperature)
    sigma, sigma_error = conductivity(float(value), float(error), carriers, temperature)
    return {"temperature_k": temperature, "D_cm2_per_s": float(value),
            "D_se_cm2_per_s": float(error), "carriers_per_a3": carriers,
            "conductivity_s_per_cm": sigma, "conductivity_se_s_per_cm": sigma_error,
            "haven_ratio": 1.0}


def _arrhenius_figure(ctx: Context, rows: list[dict], fit: ArrheniusFit | None,
                      extrapolate_to: float, flags: list[str]) -> None:
    """D against 1000/T with error bars, the weighted fit (if any) and its ±1 SE band down to
    T; the fit's caveats, if any, written on it."""
    figure, axis = pyplot().subplots(figsize=(5, 4))
    measured = [r for r in rows if r["D_cm2_per_s"] > 0 and r["sigma_cm2_per_s"] is not None]
    axis.errorbar([1000.0 / r["temperature_k"] for r in measured],
                  [r["D_cm2_per_s"] for r in measured],
                  yerr=[r["sigma_cm2_per_s"] for r in measured], fmt="o", capsize=3,
                  label="MD (He et al. error)")
    data = [{"series": "MD", "temperature_k": r["temperature_k"], "D_cm2_per_s": r["D_cm2_per_s"],
             "D_se_cm2_per_s": r["sigma_cm2_per_s"]} for r in rows]
    if fit is not None:
        temperatures = np.linspace(extrapolate_to, max(r["temperature_k"] for r in rows), 100)
        ln_d, se = fit.ln_diffusivity(temperatures)
        axis.plot(1000.0 / temperatures, np.exp(ln_d), "k-",
                  label=f"E_a = {fit.activation_energy:.3f} ± {fit.activation_energy_se:.3f} eV")
        axis.fill_between(1000.0 / temperatures, np.exp(ln_d - se), np.exp(ln_d + se),
                          color="k", alpha=0.15, label="±1 SE (full covariance)")
        data += [{"series": "fit", "temperature_k": float(t), "D_cm2_per_s": float(np.exp(ln)),
                  "D_low_cm2_per_s": float(np.exp(ln - e)),
                  "D_high_cm2_per_s": float(np.exp(ln + e))}
                 for t, ln, e in zip(temperatures, ln_d, se, strict=True)]
    axis.set(yscale="log", xlabel="1000 / T (1/K)", ylabel="D (cm²/s)")
    axis.legend(fontsize=8)
    if flags:
        axis.set_title("means little: " + "; ".join(flag.split(":")[0] for flag in flags),
                       fontsize=7, color="darkred", wrap=True)
    save_figure(ctx.run, "diffusion-arrhenius", figure, data)


def _msd_figure(ctx: Context, curves: dict) -> None:
    """Each replica's MSD against lag, its fit window shaded."""
    figure, axis = pyplot().subplots(figsize=(5, 4))
    data = []
    for temperature, pairs in curves.items():
        for index, (result, estimate) in enumerate(pairs):
            line, = axis.plot(result.lag_ps, result.total(), lw=1,
                              label=f"{temperature:g} K" if index == 0 else None)
            axis.axvspan(*estimate.window_ps, color=line.get_color(), alpha=0.08)
            data += [{"temperature_k": temperature, "replica": index, "lag_ps": float(lag),
                      "msd_a2": float(msd)} for lag, msd in zip(result.lag_ps, result.total(),
                                                                 strict=True)]
    axis.set(xlabel="lag (ps)", ylabel="MSD (Å²)")
    axis.legend(fontsize=8)
    save_figure(ctx.run, "diffusion-msd", figure, data)


def _transport_figure(ctx: Context, transport: dict[float, dict]) -> None:
    """Displacement histograms along the normal (the paper's Fig. 9) and the crossing events'
    lateral positions (Fig. 10), one colour per temperature."""
    figure, (left, right) = pyplot().subplots(1, 2, figsize=(9, 4))
    data = []
    for temperature, entry in transport.items():
        edges = np.array(entry["displacement_edges_angstrom"])
        left.stairs(entry["counts"], edges, label=f"{temperature:g} K")
        data += [{"temperature_k": temperature, "panel": "displacement", "from_angstrom": low,
                  "to_angstrom": high, "ions": count}
                 for low, high, count in zip(edges[:-1], edges[1:], entry["counts"], strict=True)]
        if entry["crossing_positions_angstrom"]:
            x, y = np.array(entry["crossing_positions_angstrom"]).T
            right.scatter(x, y, s=6, label=f"{temperature:g} K")
            data += [{"temperature_k": temperature, "panel": "crossing", "x_angstrom": a,
                      "y_angstrom": b} for a, b in zip(x, y, strict=True)]
    left.set(xlabel="displacement along the normal (Å)", ylabel="ions")
    right.set(xlabel="x (Å)", ylabel="y (Å)", title="interface crossings", aspect="equal")
    left.legend(fontsize=8)
    save_figure(ctx.run, "diffusion-interface", figure, data)
