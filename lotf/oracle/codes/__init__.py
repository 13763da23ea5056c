"""The reference codes lotf knows by short name; each module here registers its own, and every
module here is imported below, so a new code is one new module (or one `register` call)."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
