"""Molecular dynamics in LAMMPS driven by a lotf potential, with the extrapolation grade watched;
this module sends each run where it goes, lotf.md.session runs it.

The forces come from a coupling (`lotf.md.coupling`): lotf's `pair_style mtp` inside LAMMPS, or
the potential evaluated in Python through `fix external`. Either way a `fix external` callback
sees every step: it gets the step's energy and grade from the coupling and publishes the grade
as the fix's global vector, so `fix halt` stops the run at the first step whose grade exceeds
the break threshold. Frames above the select threshold are kept as candidates for labelling,
and the last frame at or below it is the restart point. Given a range of volumes per atom (the
training data's), a step outside it breaks too, and that frame is kept as `off_volume`: a cell
can expand into a gas while every neighbourhood still grades low.

On several MPI ranks every rank gathers all positions each step and sees the same grade (the
pair style reduces it over ranks; through fix external every rank evaluates the whole cell), so
`fix halt` stops all ranks at the same step.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

from ase import Atoms

from lotf.md import groups
from lotf.md.groups import MDJob
from lotf.md.ranks import run_on_ranks
from lotf.md.session import MDResult, MDSettings, run_session
from lotf.offline import refuse_new
from lotf.potential import Potential

THERMO = ("step", "time_ps", "temp", "pe", "etotal", "press", "vol", "grade")
LAMMPS_THERMO = ("temp", "pe", "etotal", "press", "vol")


def run_md(potential: Potential, atoms: Atoms, settings: MDSettings,
           trajectory: Path | None = None, log_file: Path | None = None) -> MDResult:
    """Run `settings.steps` MD steps from `atoms` (its velocities if it has any), or until a
    break: on a group of this MPI job's ranks when the campaign runs under MPI, else on
    `settings.ranks` ranks of an mpiexec of its own, else here."""
    return run_md_many(potential, [MDJob(atoms, settings, trajectory, log_file)])[0]


def run_md_many(potential: Potential, jobs: Sequence[MDJob],
                meanwhile: Callable[[], object] | None = None) -> list[MDResult]:
    """Several runs with one potential: concurrently, one per group, under MPI; else in turn.
    `meanwhile` is called while they run (between chunks of steps, or while the groups are
    waited for), e.g. to collect oracle outcomes and keep the oracle's workers busy."""
    refuse_new("MD")
    md_groups = groups.active()
    if md_groups is not None and md_groups.count:
        return md_groups.run(potential, jobs, meanwhile)
    results = []
    for job in jobs:
        if job.settings.ranks > 1:  # a launcher of its own: nothing else happens meanwhile
            results.append(run_on_ranks(potential, job.atoms, job.settings, job.trajectory,
                                        job.log_file))
        else:
            results.append(run_session(potential, job.atoms, job.settings, job.trajectory,
                                       job.log_file, meanwhile=meanwhile))
    return results
