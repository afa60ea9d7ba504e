"""Proofs anyone can check: account proofs against a state root, the journal's transparency log, disputes."""
