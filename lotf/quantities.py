"""The typed values of campaign files, shared by every config section: times, pressures,
species, and the names of registered things (barostats, ensembles, backends, couplings,
executors) as Literals read from their registries, so a new entry needs no edit here."""

from typing import Annotated, Literal

from ase.data import chemical_symbols
from pydantic import AfterValidator, BeforeValidator, Field, NonNegativeFloat, PositiveFloat

from lotf.md.barostats import BAROSTATS
from lotf.md.coupling import COUPLINGS
from lotf.md.ensembles import ENSEMBLES
from lotf.oracle.executors import EXECUTORS
from lotf.potential import BACKENDS
from lotf.scaling import SCALED
from lotf.units import parse_quantity


def _quantity(dimension: str, unit: str):
    return BeforeValidator(lambda value: parse_quantity(value, dimension, unit))


TimeFs = Annotated[PositiveFloat, _quantity("time", "fs")]
MAX_MD_FS = 1e9  # 1 µs: no MD of a learning campaign runs longer
MAX_TEMPERATURE = 20000.0  # K
Timestep = Annotated[TimeFs, Field(ge=0.01, le=10.0, description="fs: MD beyond 10 fs explodes")]
DurationFs = Annotated[NonNegativeFloat, _quantity("time", "fs")]
RunFs = Annotated[TimeFs, SCALED]
RunDurationFs = Annotated[DurationFs, SCALED]
WallSeconds = Annotated[PositiveFloat, _quantity("time", "s")]
PressureBar = Annotated[float, _quantity("pressure", "bar")]
BarostatName = Literal[tuple(BAROSTATS)]
EnsembleName = Literal[tuple(ENSEMBLES)]
BackendName = Literal[tuple(BACKENDS)]
CouplingName = Literal[("auto", *COUPLINGS)]
ExecutorName = Literal[tuple(EXECUTORS)]


def _symbol(value: str) -> str:
    if value not in chemical_symbols or value == "X":
        raise ValueError(f"'{value}' is not a chemical element")
    return value


Species = Annotated[str, AfterValidator(_symbol)]
