"""One MD run in a LAMMPS of this process: the settings and result of a run, and the session
that sets LAMMPS up for a potential (through a coupling, lotf.md.coupling), watches the grade
every step and keeps candidates, the restart point and the trajectory. lotf.md.run decides
where a run goes (here, a group of the MPI job's ranks, or an mpiexec of its own)."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.units import fs

from lotf import interrupts
from lotf.errors import StageFailed
from lotf.faults import checkpoint
from lotf.md.coupling import FIX, choose
from lotf.md.ensembles import Thermostat, ensemble
from lotf.md.library import open_lammps
from lotf.potential import Potential

THERMO = ("step", "time_ps", "temp", "pe", "etotal", "press", "vol", "grade")
LAMMPS_THERMO = ("temp", "pe", "etotal", "press", "vol")


@dataclass(frozen=True)
class MDSettings:
    """One MD run: ensemble, temperatures (K, start and end for a ramp), pressure (bar), steps."""

    ensemble: str
    temperature: tuple[float, float]
    steps: int
    timestep_fs: float = 2.0
    pressure_bar: float | None = None
    seed: int = 1
    select_threshold: float = 1.5
    break_threshold: float = 10.0
    thermo_every: int = 50
    max_candidates: int = 1000
    dump_every: int = 0  # 0: no trajectory
    thermostat_steps: float = 100.0  # damping time in timesteps
    barostat_steps: float = 1000.0
    barostat: str = "aniso"  # a lotf.md.barostats name
    coupling: str = "auto"  # how the forces reach LAMMPS: lotf.md.coupling's names, or auto
    volume_range: tuple[float, float] | None = None  # Å³ per atom; a step outside it breaks
    ranks: int = 1  # above 1: the run goes to that many MPI ranks (lotf.md.ranks)


@dataclass
class MDResult:
    """What a run did: how far it got, whether and where it broke, what to label, where to restart."""

    steps: int
    halted: bool
    break_step: int | None
    max_grade: float
    candidates: list[Atoms]
    restart: Atoms | None
    final: Atoms | None = None  # the last step, with velocities: where a schedule continues
    off_volume: Atoms | None = None  # the step that left `volume_range`, if that broke the run
    thermo: dict[str, np.ndarray] = field(default_factory=dict)


def _max():
    from mpi4py import MPI  # only runs given an mpi4py communicator have one

    return MPI.MAX


class CallbackError(StageFailed):
    """The potential raised inside the LAMMPS callback; the run was stopped."""


def run_session(potential: Potential, atoms: Atoms, settings: MDSettings,
                trajectory: Path | None = None, log_file: Path | None = None,
                comm=None, meanwhile: Callable[[], object] | None = None) -> MDResult:
    """The run in a LAMMPS of this process, on the ranks of `comm` (an mpi4py communicator;
    default: this process alone); `meanwhile` is called between chunks of steps."""
    session = _Session(potential, atoms, settings, trajectory, log_file, comm)
    session.meanwhile = meanwhile
    try:
        return session.run()
    finally:
        session.close()


def lammps_frame(atoms: Atoms) -> Atoms:
    """The same structure in LAMMPS's frame: cell rotated to lower-triangular form."""
    cell, rotation = atoms.cell.standard_form()
    rotated = atoms.copy()
    rotated.set_cell(cell, scale_atoms=True)
    if atoms.get_velocities() is not None:
        rotated.set_velocities(atoms.get_velocities() @ rotation.T)
    return rotated


class _Session:
    def __init__(self, potential, atoms, settings, trajectory, log_file, comm=None):
        if not atoms.pbc.all():
            raise ValueError("MD needs a cell periodic in all three directions")
        self.settings = settings
        self.atoms = lammps_frame(atoms)
        self.species = potential.species
        coupling = choose(settings.coupling, potential)  # before LAMMPS: a UserError leaks nothing
        self.lmp = open_lammps(log_file, comm)
        self.comm = comm
        self.coupling = coupling(potential, self.lmp)
        self.ranks = int(self.lmp.extract_setting("world_size"))
        self.rank = int(self.lmp.extract_setting("world_rank"))  # only rank 0 writes files
        self.trajectory_path = trajectory
        self._trajectory = None
        self.candidates: list[Atoms] = []
        self._candidates_seen, self._candidate_stride = 0, 1
        self.restart: Atoms | None = None
        self.last: Atoms | None = None
        self.max_grade = 0.0
        self.break_step: int | None = None
        self.off_volume: Atoms | None = None
        self.error: BaseException | None = None
        self.stopped = False  # a signal stopped the run, agreed over its ranks
        self.meanwhile: Callable[[], object] | None = None  # called between chunks
        self.thermo: dict[str, list] = {k: [] for k in THERMO}
        self._grade = 0.0

    # --- setting up --------------------------------------------------------------------------
    def _setup(self) -> None:
        s, atoms, lmp = self.settings, self.atoms, self.lmp
        (a, _, _), (b, c, _), (d, e, f) = atoms.cell.array.tolist()
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0",
            "boundary p p p",
            # re-neighbouring is what wraps atoms back into the box and moves them between MPI
            # ranks (with or without a pair style), so do it whenever an atom has moved half the skin
            "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
            f"region box prism 0 {a!r} 0 {c!r} 0 {f!r} {b!r} {d!r} {e!r} units box",
            f"create_box {len(self.species)} box",
        ])
        for index, symbol in enumerate(self.species, start=1):
            lmp.command(f"mass {index} {float(atomic_masses[atomic_numbers[symbol]])!r}")
        types = [self.species.index(s) + 1 for s in atoms.get_chemical_symbols()]
        velocities = atoms.get_velocities()
        lmp.create_atoms(
            len(atoms), list(range(1, len(atoms) + 1)), types, atoms.positions.ravel().tolist(),
            None if velocities is None else (velocities * fs * 1000).ravel().tolist())
        self.types = np.array(types)
        self.numbers = np.array([atomic_numbers[self.species[t - 1]] for t in types])
        start, end = (float(t) for t in s.temperature)
        lmp.command(f"timestep {s.timestep_fs / 1000.0!r}")
        if velocities is None or not np.any(velocities):
            lmp.command(f"velocity all create {start!r} {s.seed} mom yes rot yes dist gaussian")
        lmp.command(f"fix {FIX} all external pf/callback 1 1")
        lmp.commands_list(self.coupling.commands())
        # the grade; 1 once the volume left its range; 1 once SIGINT or SIGTERM came
        lmp.fix_external_set_vector_length(FIX, 3)
        for index in (1, 2, 3):
            lmp.fix_external_set_vector(FIX, index, 0.0)
        lmp.set_fix_external_callback(FIX, self._callback)
        tdamp = s.thermostat_steps * s.timestep_fs / 1000.0
        pdamp = s.barostat_steps * s.timestep_fs / 1000.0
        lmp.command(ensemble(s.ensemble).fix(Thermostat(start, end, tdamp, pdamp,
                                                        s.pressure_bar, s.barostat)))
        lmp.commands_list([
            f"variable halt equal (f_{FIX}[1]>{s.break_threshold!r})||(f_{FIX}[2]>0)"
            f"||(f_{FIX}[3]>0)",
            "variable atoms equal count(all)",
            "fix halt all halt 1 v_halt > 0 error continue",
            f"thermo_style custom step {' '.join(LAMMPS_THERMO)}",
            "thermo_modify lost ignore",  # lost atoms are an explosion, seen by the callback
            f"thermo {s.thermo_every}",
        ])

    # --- every step --------------------------------------------------------------------------
    def _stop_requested(self) -> bool:
        """Whether SIGINT or SIGTERM came, on any rank of the run: every rank then stops at the
        same step (a rank that stopped alone would leave the others waiting in LAMMPS)."""
        requested = interrupts.requested()
        if self.comm is not None and self.ranks > 1:
            requested = bool(self.comm.allreduce(int(requested), op=_max()))
        self.stopped = self.stopped or requested
        return requested

    def _callback(self, caller, step, nlocal, tags, x, forces) -> None:
        if self._stop_requested():  # stop at this step; run() raises KeyboardInterrupt
            self.lmp.fix_external_set_vector(FIX, 3, 1.0)
        try:
            if int(self.lmp.extract_variable("atoms")) != len(self.numbers):  # lost: flew away
                self._explode(step, forces)
                return
            atoms = self._current_atoms(x, tags)
            energy, grade = self.coupling.step(atoms, tags, forces)
            if not (math.isfinite(energy) and math.isfinite(grade)):
                grade = math.inf  # an explosion is an extrapolation, not a crash
            self.lmp.fix_external_set_vector(FIX, 1, grade)
            if self.off_volume is None and self._outside_volume_range(atoms):
                self._leave_volume_range(step, atoms)
            self._record(step, atoms, energy, grade)
        except BaseException as error:  # LAMMPS would print it and carry on: stop the run instead
            self.error = error
            self.lmp.fix_external_set_vector(FIX, 1, math.inf)

    def _explode(self, step: int, forces) -> None:
        """An exploded cell counts as an extrapolation: infinite grade, no forces, the run halts."""
        forces[:] = 0.0
        self.lmp.fix_external_set_vector(FIX, 1, math.inf)
        self._grade = self.max_grade = math.inf
        if self.break_step is None:
            self.break_step = int(step)

    def _leave_volume_range(self, step: int, atoms: Atoms) -> None:
        """The volume left the data's range: a break at this step, which is kept to label."""
        self.off_volume = atoms
        self.lmp.fix_external_set_vector(FIX, 2, 1.0)
        if self.break_step is None:
            self.break_step = int(step)

    def _outside_volume_range(self, atoms: Atoms) -> bool:
        if self.settings.volume_range is None:
            return False
        low, high = self.settings.volume_range
        return not low <= atoms.get_volume() / len(atoms) <= high

    def _current_atoms(self, x, tags) -> Atoms:
        lo, hi, xy, yz, xz, _, _ = self.lmp.extract_box()
        cell = [[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]]
        if self.ranks > 1:
            positions = np.array(self.lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)
        else:
            positions = np.array(x)[np.argsort(tags)]
        return Atoms(numbers=self.numbers, positions=positions - lo, cell=cell, pbc=True)

    def _record(self, step: int, atoms: Atoms, energy: float, grade: float) -> None:
        checkpoint("md")
        s = self.settings
        self._grade = grade
        self.max_grade = max(self.max_grade, grade)
        atoms.info.update(step=int(step), grade=float(grade), energy=float(energy),
                          time_ps=float(step * s.timestep_fs / 1000.0))
        self.last = atoms
        if grade > s.break_threshold and self.break_step is None:
            self.break_step = int(step)
        if grade > s.select_threshold:
            self._keep_candidate(atoms)
        elif self.break_step is None:
            self.restart = atoms
        if s.dump_every and step % s.dump_every == 0 and self.rank == 0:
            self._write_frame(atoms)

    def _keep_candidate(self, atoms: Atoms) -> None:
        """Keep every n-th candidate; when the list is full, halve it and double n (bounded memory)."""
        self._candidates_seen += 1
        if (self._candidates_seen - 1) % self._candidate_stride:
            return
        self.candidates.append(atoms)
        if len(self.candidates) > self.settings.max_candidates:
            self.candidates = self.candidates[::2]
            self._candidate_stride *= 2

    def _write_frame(self, atoms: Atoms) -> None:
        import ase.io

        if self._trajectory is None:
            self.trajectory_path.parent.mkdir(parents=True, exist_ok=True)
            self._trajectory = open(self._partial(), "w")  # noqa: SIM115 (closed in close())
        ase.io.write(self._trajectory, atoms, format="extxyz")

    def _partial(self) -> Path:
        return self.trajectory_path.with_name(self.trajectory_path.name + ".partial")

    # --- running -----------------------------------------------------------------------------
    def run(self) -> MDResult:
        self._setup()
        s = self.settings
        done = 0
        first = True
        # a signal inside LAMMPS's callback would be swallowed: it halts the run instead, and
        # leaving the block raises KeyboardInterrupt
        with interrupts.deferred():
            while done < s.steps:
                chunk = min(s.thermo_every, s.steps - done)
                self.lmp.command(f"run {chunk} start 0 stop {s.steps} "
                                 f"pre {'yes' if first else 'no'} post no")
                first = False
                done = int(self.lmp.get_thermo("step"))
                self._thermo(done)
                if self.error is not None:
                    raise CallbackError(f"the potential failed at step {done}: {self.error}") \
                        from self.error
                if self.break_step is not None or self._stop_requested():
                    break
                if self.meanwhile is not None:
                    self.meanwhile()
        if self.stopped:  # where signals are held beyond this run (a group rank), say so here
            raise KeyboardInterrupt
        self._finish_trajectory()
        return MDResult(
            steps=done, halted=self.break_step is not None, break_step=self.break_step,
            max_grade=self.max_grade, candidates=self.candidates,
            restart=self._with_velocities(self.restart), final=self._with_velocities(self.last),
            off_volume=self.off_volume, thermo={k: np.array(v) for k, v in self.thermo.items()})

    def _thermo(self, step: int) -> None:
        values = {"step": step, "time_ps": step * self.settings.timestep_fs / 1000.0,
                  "grade": self._grade}
        for name in LAMMPS_THERMO:
            values[name] = self.lmp.get_thermo(name)
        for name, value in values.items():
            self.thermo[name].append(value)

    def _with_velocities(self, frame: Atoms | None) -> Atoms | None:
        """A copy of the frame, with LAMMPS's velocities if it is the current step."""
        if frame is None:
            return None
        frame = frame.copy()
        if frame.info["step"] == int(self.lmp.get_thermo("step")):  # the final state: velocities too
            velocities = np.array(self.lmp.gather_atoms("v", 1, 3)).reshape(-1, 3)
            frame.set_velocities(velocities / (fs * 1000))
        return frame

    def _finish_trajectory(self) -> None:
        if self._trajectory is not None:
            self._trajectory.close()
            self._trajectory = None
            self._partial().replace(self.trajectory_path)
            checkpoint("write")

    def close(self) -> None:
        if self._trajectory is not None:  # interrupted: the partial file is left, never used
            self._trajectory.close()
        self.lmp.close()
        self.coupling.close()
