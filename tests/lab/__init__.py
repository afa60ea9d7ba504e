"""Stress-lab tests (price models, network model); a package so module names cannot clash."""
