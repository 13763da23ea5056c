"""Cheap oracles for quick work and tests: EMT, Lennard-Jones, GFN1-xTB."""

from lotf.oracle.calculators import Code, register

register("emt", Code("ase.calculators.emt", "EMT"))
register("lj", Code("ase.calculators.lj", "LennardJones"))
# tblite's reset keeps the last wavefunction as the next SCF guess: built afresh for every call
register("tblite", Code("tblite.ase", "TBLite", {"method": "GFN1-xTB", "verbosity": 0},
                        package="tblite", reusable=False))
