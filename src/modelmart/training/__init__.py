"""Training: turn a dataset version and a declarative spec into an evaluated, exported model.

The entry points are in :mod:`modelmart.training.api`, the values they exchange in
:mod:`modelmart.training.runs` and :mod:`modelmart.schemas.jobs` (the spec), the model families
in :mod:`modelmart.training.families`; everything else here is their implementation.
"""
