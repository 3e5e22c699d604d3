"""supermasks: continual learning with supermasks over a fixed random network."""

__version__ = "0.1.0"
