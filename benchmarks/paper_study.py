"""The paper's study shortened to fit this machine, with SevenNet-0 standing in for VASP, and
each of the paper's numbers beside lotf's (JSON on stdout).

    pip install -e '.[universal]'
    python benchmarks/paper_study.py [--workdir runs/paper-study] [--study FILE]

Runs (or resumes) `lotf study configs/paper/laptop-sevennet.yaml`: bulk Li3PS4 and Li3B11O18
learned on the fly from oracle MD, their interface, one consolidated potential and production on
it (see that file for every way it is shorter than the paper). Then it reads each member's
results.json. A number lotf did not compute is null with the reason; each of lotf's numbers
carries its standard error and the flags its stage raised, so a reader sees which comparisons
the shortened run can support. The paper's values are from its Results (seed 004).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "configs" / "paper" / "laptop-sevennet.yaml"

# The paper's numbers (Results): value, its uncertainty where it gives one, the unit.
PAPER = {
    "lps_density_g_cm3": (1.79, 0.014),
    "lbo_density_g_cm3": (2.09, 0.01),
    "lps_cn_P_S": (4.0, None),
    "lbo_cn_B_O": (3.2, None),
    "lbo_bo4_fraction": (0.26, None),
    "interface_bo4_fraction": (0.22, None),
    "validation_energy_mae_mev_per_atom": (4.0, None),
    "validation_forces_mae_ev_per_a": (0.24, None),
    "lps_amorphization_mev_per_atom": (36.7, None),
    "lbo_amorphization_mev_per_atom": (42.0, None),
    "interface_energy_mj_per_m2": (620.0, None),
    "lps_activation_energy_ev": (None, None),
    "lbo_activation_energy_ev": (0.53, 0.02),
    "interface_normal_activation_energy_ev": (0.55, 0.02),
    "lps_sigma_300k_s_per_cm": (16.4e-3, None),
    "lbo_sigma_300k_s_per_cm": (1.38e-4, None),
}


def _results(folder: Path, member: str) -> dict:
    path = folder / member / "results.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _number(value, se=None, flags=(), why: str | None = None) -> dict:
    """One of lotf's numbers for the table: value, standard error, flags, or why it is null."""
    entry = {"value": value, "se": se}
    if flags:
        entry["flags"] = list(flags)
    if value is None:
        entry["missing"] = why or "not computed"
    return entry


def _audit_flags(results: dict) -> list[str]:
    """The glass audit's verdict, which every number measured on the glasses rests on."""
    flag = results.get("audit", {}).get("flag")
    return [flag] if flag else []


def _amorphization(results: dict) -> dict:
    """The glass's energy above its relaxed crystal, with the crystal's and the glass's flags."""
    energetics = results.get("energetics", {})
    excess = energetics.get("amorphization_mev_per_atom")
    if excess is None:
        return _number(None, why="no crystal reference for this glass (none ships for "
                                 "Li3B11O18: its published structure is not on this machine)")
    return _number(excess["value_mev"], excess["se_mev"],
                   [*energetics.get("flags", []), *_audit_flags(results)])


def _density(results: dict) -> dict:
    glass = results.get("melt_quench")
    if not glass:
        return _number(None, why="no melt-quench result")
    return _number(glass["density_g_cm3"], glass.get("density_spread_g_cm3"),
                   [*glass.get("flags", []), *_audit_flags(results)])


def _cn(results: dict, pair: str) -> dict:
    row = results.get("structure", {}).get("coordination", {}).get(pair)
    return _number(row["cn"] if row else None, flags=_audit_flags(results),
                   why=f"no {pair} coordination in structure")


def _bo4(results: dict) -> dict:
    unit = results.get("structure", {}).get("units", {}).get("BO4")
    if not unit:
        return _number(None, why="no BO4 unit analysis")
    return _number(unit["coordination_fractions"].get("4", 0.0), flags=_audit_flags(results))


def _arrhenius(block: dict | None, flags=()) -> dict:
    if not block:
        return _number(None, why="no Arrhenius fit")
    return _number(block["activation_energy_ev"], block["activation_energy_se_ev"], flags)


def _sigma(results: dict) -> dict:
    diffusion = results.get("diffusion")
    if not diffusion:
        return _number(None, why="no diffusion result")
    extrapolated = diffusion["extrapolated"]
    if extrapolated is None:
        return _number(None, flags=diffusion.get("flags", ()), why="no Arrhenius fit")
    return _number(extrapolated["conductivity_s_per_cm"],
                   extrapolated.get("conductivity_se_s_per_cm"), diffusion.get("flags"))


def _validation(folder: Path, key: str) -> dict:
    """The validation error of each learning campaign (the paper gives one across systems)."""
    validations = {member: _results(folder, member).get("validation", {})
                   for member in ("lps", "lbo", "interface")}
    rows = {member: validation.get(key) for member, validation in validations.items()}
    known = [value for value in rows.values() if value is not None]
    value = sum(known) / len(known) if known else None
    flags = [f"{member}: {text}" for member, validation in validations.items()
             for text in validation.get("flags", [])]
    entry = _number(value, flags=flags, why="no validation result")
    entry["per_campaign"] = rows
    return entry


def lotf_numbers(folder: Path) -> dict:
    """Every number of PAPER as lotf's study in `folder` computed it (or null, with why)."""
    lps, lbo = _results(folder, "production-lps"), _results(folder, "production-lbo")
    interface = _results(folder, "production-interface")
    normal = interface.get("diffusion", {}).get("directions", {}).get("normal", {})
    gamma = interface.get("energetics", {}).get("interface")
    return {
        "lps_density_g_cm3": _density(lps),
        "lbo_density_g_cm3": _density(lbo),
        "lps_cn_P_S": _cn(lps, "P-S"),
        "lbo_cn_B_O": _cn(lbo, "B-O"),
        "lbo_bo4_fraction": _bo4(lbo),
        "interface_bo4_fraction": _bo4(interface),
        "validation_energy_mae_mev_per_atom": _validation(folder, "energy_mae_mev_per_atom"),
        "validation_forces_mae_ev_per_a": _validation(folder, "forces_mae_ev_per_a"),
        "lps_amorphization_mev_per_atom": _amorphization(lps),
        "lbo_amorphization_mev_per_atom": _amorphization(lbo),
        "interface_energy_mj_per_m2": _number(gamma["value_mj_per_m2"], gamma["se_mj_per_m2"],
                                              _audit_flags(interface))
        if gamma else _number(None, why="no interface energy"),
        "lps_activation_energy_ev": _arrhenius(lps.get("diffusion", {}).get("arrhenius"),
                                               lps.get("diffusion", {}).get("flags", ())),
        "lbo_activation_energy_ev": _arrhenius(lbo.get("diffusion", {}).get("arrhenius"),
                                               lbo.get("diffusion", {}).get("flags", ())),
        "interface_normal_activation_energy_ev": _arrhenius(normal.get("arrhenius"),
                                                            normal.get("flags", ())),
        "lps_sigma_300k_s_per_cm": _sigma(lps),
        "lbo_sigma_300k_s_per_cm": _sigma(lbo),
    }


def _learning(folder: Path) -> dict:
    """Each learning member's end: converged or not, its generation, and the flags it raised
    (a convergence check that missed, a phase ended by active_learning.max_iterations)."""
    out = {}
    for member in ("lps", "lbo", "interface"):
        path = folder / member / "state.json"
        if not path.is_file():
            continue
        state, results = json.loads(path.read_text()), _results(folder, member)
        out[member] = {"converged": state.get("converged", False),
                       "generation": state.get("generation"),
                       "flags": [*results.get("convergence_checks", {}).get("flags", []),
                                 *results.get("unconverged_phases", {}).get("flags", [])]}
    return out


def _with_learning_flags(numbers: dict, learning: dict) -> dict:
    """Each number named for a system (lps_, lbo_, interface_) carries a pointer to the flags
    of the campaign that learned that system: its potential rests on that learning."""
    for name, entry in numbers.items():
        member = name.split("_")[0]
        if learning.get(member, {}).get("flags"):
            entry.setdefault("flags", []).append(
                f"the {member} campaign's learning raised {len(learning[member]['flags'])} "
                f"flag(s): see learning.{member}")
    return numbers


def _audits(folder: Path) -> dict:
    """Each production glass's audit against the oracle (the errors behind its numbers)."""
    out = {}
    for member in ("production-lps", "production-lbo", "production-interface"):
        audit = _results(folder, member).get("audit")
        if audit:
            out[member] = audit
    return out


def _calls(folder: Path) -> dict:
    """Oracle calls each member made (its ledger's own count)."""
    from lotf.ledger import Ledger

    return {path.parent.name: Ledger(path).call_counts()["total"]
            for path in sorted(folder.glob("*/ledger.db"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "paper-study")
    parser.add_argument("--study", type=Path, default=STUDY)
    parser.add_argument("--scale", type=float, default=None,
                        help="every MD run length times this (lotf study --scale)")
    args = parser.parse_args()
    try:
        import sevenn  # noqa: F401
    except ImportError:
        print(json.dumps({"skipped": "SevenNet is not installed: pip install -e '.[universal]'"}))
        return 0
    log = args.workdir.with_suffix(".log")
    args.workdir.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("a") as handle:  # the study's own progress goes to the log, JSON to stdout
        scale = [] if args.scale is None else ["--scale", str(args.scale)]
        done = subprocess.run([sys.executable, "-m", "lotf", "study", str(args.study),
                               "--workdir", str(args.workdir), *scale], stdout=handle,
                              stderr=handle)
    seconds = time.perf_counter() - started
    learning = _learning(args.workdir)
    mine = _with_learning_flags(lotf_numbers(args.workdir), learning)
    table = {name: {"paper": {"value": value, "se": se}, "lotf": mine[name]}
             for name, (value, se) in PAPER.items()}
    record = args.workdir / "study.json"
    members = json.loads(record.read_text()).get("seconds", {}) if record.is_file() else {}
    print(json.dumps({"study": str(args.study), "workdir": str(args.workdir),
                      "scale": args.scale,
                      "exit_code": done.returncode, "wall_seconds_this_call": round(seconds, 1),
                      "member_seconds": members, "oracle_calls": _calls(args.workdir),
                      "log": str(log), "numbers": table, "learning": learning,
                      "audits": _audits(args.workdir)},
                     indent=2))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
