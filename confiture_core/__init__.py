"""Confiture: PostgreSQL schema migrations driven by plugins."""

__version__ = "0.1.0"
