"""Documented results: the committed small files behind every table in README and docs, and their reruns."""
