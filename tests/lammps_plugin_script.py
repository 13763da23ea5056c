"""Run by test_lammps_plugin on one rank and under `mpiexec -n 2`: NVE MD of a Cu cell with
`pair_style mtp` (plugin loaded by path), the final positions and energies to a .npy file."""

import sys

import numpy as np
from ase.build import bulk

from lotf.lammps_plugins import plugin_path
from lotf.md.library import open_lammps

potential, output, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)
atoms.rattle(0.05, seed=3)
lmp = open_lammps()
for command in [f"plugin load {plugin_path()}", "units metal", "atom_style atomic",
                "atom_modify map array", f"region box block 0 {atoms.cell[0, 0]} 0 "
                f"{atoms.cell[1, 1]} 0 {atoms.cell[2, 2]} units box", "create_box 1 box",
                "mass 1 63.546", "pair_style mtp", f"pair_coeff * * {potential} 0",
                "timestep 0.002", "velocity all create 800 7 loop geom", "fix nve all nve",
                "thermo 100", "thermo_style custom step pe ke press"]:
    lmp.command(command)
    if command == "mass 1 63.546":
        for x in atoms.positions:
            lmp.command(f"create_atoms 1 single {x[0]} {x[1]} {x[2]} remap yes units box")
lmp.command(f"run {steps}")
positions = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)
energies = [lmp.get_thermo("pe"), lmp.get_thermo("ke"), lmp.get_thermo("press")]
if lmp.extract_setting("world_rank") == 0:
    np.save(output, np.vstack([positions, energies]))
lmp.close()
