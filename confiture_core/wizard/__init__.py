"""The migration wizard: one pending migration per screen, its risk and predictions, safe rewrites.

Modules: :mod:`.rewrites` (the safe forms of risky statements, pure: pglast only), :mod:`.drafts`
(rewritten files staged, diffed, then put in place), :mod:`.screen` (one migration drawn with rich).
The interactive loop is :mod:`confiture_core.cli.wizard`.
"""
