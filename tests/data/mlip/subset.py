"""Rebuild this folder from ../shared/reference/mlip: every 5th frame of each .cfg, byte for byte.

grades/noncubic/10 is copied whole (an active set is built from every frame).

Usage: python tests/data/mlip/subset.py /path/to/shared/reference/mlip
"""

import gzip
import shutil
import sys
from pathlib import Path

EVERY = 5
HERE = Path(__file__).parent


def subset(source: Path, target: Path) -> None:
    """Keep frames 0, 5, 10, ... of a gzipped MLIP .cfg file, unchanged."""
    with gzip.open(source, "rt") as handle:
        text = handle.read()
    frames = [f"BEGIN_CFG{block}" for block in text.split("BEGIN_CFG")[1:]]
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(target, "wb", mtime=0) as handle:
        handle.write("".join(frames[::EVERY]).encode())


if __name__ == "__main__":
    reference = Path(sys.argv[1])
    for cfg in reference.glob("*/**/*.cfg.gz"):
        if cfg.relative_to(reference).parts[0] != "grades":
            subset(cfg, HERE / cfg.relative_to(reference))
    whole = Path("grades") / "noncubic" / "10"
    shutil.copytree(reference / whole, HERE / whole, dirs_exist_ok=True)
    for mtp in reference.glob("*/*/pot.mtp"):
        shutil.copy(mtp, HERE / mtp.relative_to(reference))
