"""Structure builders, chosen by the `builder:` key of a structure in the campaign (or a file).

Each spec is a `StructureSpec` (lotf.build.spec): it names its species and, through `build`,
makes its structures repeated into the spec's supercell.
"""
