"""Shared runner for the functional tests: unittest with meson's exit codes
(77 when every test was skipped, so meson reports SKIP, not OK)."""
import sys
import unittest


def main():
    prog = unittest.main(verbosity=2, exit=False)
    result = prog.result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun and len(result.skipped) == result.testsRun:
        sys.exit(77)
    sys.exit(0)
