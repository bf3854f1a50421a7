"""Reading a command line argparse refused: where the reports go, which paths are test paths.

When pytest's parser refuses an argument there is no parsed namespace to read, so the suite's
plugin reads the arguments itself (meshconform_options/refusals.py), as argparse would have.
"""

from __future__ import annotations

from meshconform_options import refusals

TAKE_VALUES = {"--report-dir", "--ctx1", "-k", "-n", "--junitxml"}


def test_the_last_value_of_an_option_wins_in_either_form():
    args = ["--report-dir=a", "--lab", "--report-dir", "b", "-q"]
    assert refusals.value_of(args, refusals.REPORT_DIR) == "b"
    assert refusals.value_of(["--mc-report-dir=c"], refusals.REPORT_DIR) == "c"


def test_an_option_without_its_value_has_none():
    assert refusals.value_of(["--lab", "--report-dir"], refusals.REPORT_DIR) is None
    assert refusals.value_of(["--report-dir", "--lab"], refusals.REPORT_DIR) is None


def test_test_paths_leave_out_options_and_their_separate_values():
    args = ["--ctx1", "a", "tests/test_1_join.py", "-k", "cluster-1", "-q", "--report-dir=r", "sel/x.py"]
    assert refusals.test_paths(args, TAKE_VALUES) == ["tests/test_1_join.py", "sel/x.py"]


def test_flags_are_long_options_by_name_as_the_summary_schema_names_them():
    args = ["--lab", "--ctx1", "a", "-n", "2", "--report-dir=r", "--", "--7bad"]
    assert refusals.flags(args) == {"--lab": True, "--ctx1": "a", "--report-dir": "r"}
