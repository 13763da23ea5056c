"""Molecular dynamics in LAMMPS: loading it, the couplings, grade-watched runs, runs on MPI ranks."""
