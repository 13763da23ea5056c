"""Cheap oracles for quick work and tests: EMT, Lennard-Jones, GFN1-xTB, SevenNet-0."""

from lotf.oracle.code import Code, register

register("emt", Code("ase.calculators.emt", "EMT"))
register("lj", Code("ase.calculators.lj", "LennardJones"))
# tblite's reset keeps the last wavefunction as the next SCF guess: built afresh for every call
register("tblite", Code("tblite.ase", "TBLite", {"method": "GFN1-xTB", "verbosity": 0},
                        package="tblite", reusable=False))
# SevenNet-0, a universal potential trained on PBE data (weights ship in the wheel): a PBE-level
# stand-in for DFT in benchmarks and quick studies; `pip install lotf[universal]`
register("sevennet", Code("sevenn.calculator", "SevenNetCalculator",
                          {"model": "7net-0", "device": "cpu"}, package="sevenn", versioned=True))
