"""lotf: learning moment tensor potentials on the fly."""

__version__ = "0.1.0"
