"""Presenting results to people: the plain-text comparison table (and, later, the HTML report)."""
