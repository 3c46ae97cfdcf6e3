"""The shop's migrations under Confiture's pytest plugin: every migration up, the stairway, exact reverts, lint."""

from confiture_plugins.testing import (  # noqa: F401  (imported to be collected)
    test_down_reverts_exactly,
    test_hooks_load,
    test_lint_clean,
    test_stairway,
    test_upgrade,
)
