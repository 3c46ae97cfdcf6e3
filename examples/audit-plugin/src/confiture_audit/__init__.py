"""confiture-audit: an example third-party Confiture plugin."""

__version__ = "0.2.0"
