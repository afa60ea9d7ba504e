"""Risk engine: columnar mirror, fast float scan with a sound safety margin, exact risk views."""
