"""Training jobs: a spec and a dataset version in, a registered, evaluated model version out."""
