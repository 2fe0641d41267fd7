"""Energy per request: what a batch of a model cost in joules, and how it is shared out.

A model's worker measures each batch (:mod:`modelmart.energy.meters`): from the CPU package
energy counters (RAPL, :mod:`modelmart.energy.rapl`) where the server may read them, else as
an estimate from the CPU time the batch took x a power figure per busy core. The batch's energy
is then split among its requests by their share of it (:mod:`modelmart.energy.split`): rows for
a batch, tokens for generation. Joules are kept as whole microjoules, so the shares of a batch
add up exactly to the batch and the ledger keeps what each response said.
"""
