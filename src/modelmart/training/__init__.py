"""Training: turn a dataset version and a declarative spec into an evaluated, exported model.

The interface is :mod:`modelmart.training.api`; everything else here is its implementation.
"""
