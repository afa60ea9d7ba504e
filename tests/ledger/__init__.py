"""Ledger tests; a package so its module names (test_properties, ...) cannot clash with other test folders."""
