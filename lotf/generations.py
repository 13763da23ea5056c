"""What generation N of a campaign trains on, read from the ledger alone: the oracle's labels,
but not validation frames, oracle-MD steps, nor the labels that answer generation N or a later
one (their breaks' selections, their audits). So any generation can be retrained exactly, and
loaded or exported, without the campaign's stages."""

from ase import Atoms

from lotf.ledger import NOT_FOR_TRAINING, Ledger, content_key

ANSWERS = ("gen", "audit")  # label sources that answer a generation: its break, its audit


def selection_generation(source: str) -> int | None:
    """N for the labels that answer generation N (its break's selection 'gen-NNNN', an audit
    of its frames 'audit-NNNN'): generations after N train on them. Else None."""
    prefix, _, number = source.partition("-")
    return int(number) if prefix in ANSWERS and number.isdigit() else None


def training_labels(ledger: Ledger, oracle: str, generation: int) -> list[Atoms]:
    """Generation `generation`'s training set: labels of the oracle with ledger id `oracle`."""

    def earlier(source: str) -> bool:
        selection = selection_generation(source)
        return selection is None or selection < generation

    data = ledger.labelled(oracle, exclude=NOT_FOR_TRAINING, keep=earlier)
    # in content order alone, not the order calls finished in nor one that depends on the
    # oracle's settings: a resumed campaign, or the same one elsewhere, fits on the same sums
    # to the last bit and retraces the uninterrupted one
    return sorted(data, key=lambda atoms: content_key(atoms, ""))
