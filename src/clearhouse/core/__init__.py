"""Layer 0: fixed-point arithmetic and the typed errors. Imports nothing else from clearhouse."""
