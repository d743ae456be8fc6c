"""Layer maps on the paper's 28-to-36 case, rounding, edge cases, config-path errors, the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from audistill.cli import app
from audistill.config import ConfigError, LayerDistillConfig
from audistill.distill.layer_maps import (
    layer_pairs,
    layer_pairs_from_config,
    parse_pairs,
    proportional_partner,
)


def test_paper_case_28_to_36() -> None:
    assert layer_pairs("skip", 28, 36, k=7) == [(7, 9), (14, 18), (21, 27), (28, 36)]
    assert layer_pairs("top", 28, 36) == [(28, 36)]
    proportional = layer_pairs("proportional", 28, 36)
    assert len(proportional) == 28
    assert [s for s, _ in proportional] == list(range(1, 29))
    # i * 36 / 28 = 9i / 7: 1.29 -> 1, 2.57 -> 3, 3.86 -> 4, 5.14 -> 5, ...
    assert proportional[:4] == [(1, 1), (2, 3), (3, 4), (4, 5)]
    assert proportional[-1] == (28, 36)
    teacher_layers = [t for _, t in proportional]
    assert teacher_layers == sorted(set(teacher_layers))  # strictly increasing, no teacher layer twice
    assert layer_pairs("none", 28, 36) == []


def test_proportional_rounds_halves_up() -> None:
    # 4 -> 10: 1 * 10 / 4 = 2.5 -> 3 (Python's round gives 2); 3 * 10 / 4 = 7.5 -> 8
    assert layer_pairs("proportional", 4, 10) == [(1, 3), (2, 5), (3, 8), (4, 10)]
    assert round(2.5) == 2  # the trap the explicit rule avoids
    # a much shallower teacher: 1 * 2 / 8 = 0.25 would be the embedding output; raised to layer 1
    assert proportional_partner(1, 8, 2) == 1
    assert layer_pairs("proportional", 8, 2)[-1] == (8, 2)


def test_skip_adds_the_top_layer_when_k_does_not_divide() -> None:
    # 28 / 5 is not whole: 5, 10, 15, 20, 25 and then the top layer 28
    pairs = layer_pairs("skip", 28, 36, k=5)
    assert [s for s, _ in pairs] == [5, 10, 15, 20, 25, 28]
    assert pairs[-1] == (28, 36)
    assert layer_pairs("skip", 28, 36, k=40) == [(28, 36)]  # k past the depth: the top layer only
    assert layer_pairs("skip", 4, 4, k=1) == [(1, 1), (2, 2), (3, 3), (4, 4)]
    with pytest.raises(ConfigError, match=r"layers\.k: must be >= 1"):
        layer_pairs("skip", 28, 36, k=0)


def test_all_is_identity_and_needs_equal_depths() -> None:
    assert layer_pairs("all", 3, 3) == [(1, 1), (2, 2), (3, 3)]
    expected = r"acoustic_teacher\.layers\.strategy: 'all' .* student 28 and teacher 36"
    with pytest.raises(ConfigError, match=expected):
        layer_pairs("all", 28, 36, path="acoustic_teacher.layers")


def test_explicit_pairs_are_checked_with_config_paths() -> None:
    assert layer_pairs("pairs", 28, 36, pairs=[(7, 9), (28, 36)]) == [(7, 9), (28, 36)]
    with pytest.raises(ConfigError) as err:
        layer_pairs("pairs", 28, 36, pairs=[(30, 2)], path="textual_teacher.layers")
    assert str(err.value) == "textual_teacher.layers.pairs.0: student layer 30 out of range 1..28"
    with pytest.raises(ConfigError) as err:
        layer_pairs("pairs", 28, 36, pairs=[(1, 2), (3, 37)], path="textual_teacher.layers")
    assert str(err.value) == "textual_teacher.layers.pairs.1: teacher layer 37 out of range 1..36"
    with pytest.raises(ConfigError, match=r"pairs\.0: teacher layer 0 out of range"):
        layer_pairs("pairs", 28, 36, pairs=[(1, 0)])
    with pytest.raises(ConfigError, match=r"pairs\.1: pair \(1, 2\) is listed twice"):
        layer_pairs("pairs", 28, 36, pairs=[(1, 2), (1, 2)])
    with pytest.raises(ConfigError, match=r"pairs: strategy 'pairs' needs at least one"):
        layer_pairs("pairs", 28, 36)
    with pytest.raises(ConfigError, match=r"layers\.strategy: unknown strategy 'every'"):
        layer_pairs("every", 28, 36)


def test_from_config_section() -> None:
    section = LayerDistillConfig(strategy="skip", k=7)
    assert layer_pairs_from_config(section, 28, 36, "textual_teacher.layers")[-1] == (28, 36)
    section = LayerDistillConfig(strategy="pairs", pairs=[(29, 1)])
    with pytest.raises(ConfigError, match=r"^textual_teacher\.layers\.pairs\.0: student layer 29"):
        layer_pairs_from_config(section, 28, 36, "textual_teacher.layers")


def test_parse_pairs() -> None:
    assert parse_pairs("1:2, 3:4") == [(1, 2), (3, 4)]
    with pytest.raises(ConfigError, match=r"--pairs item 1 '3-4'"):
        parse_pairs("1:2,3-4")


runner = CliRunner()


def test_cli_prints_the_pairs() -> None:
    result = runner.invoke(app, ["layers", "--student-layers", "28", "--teacher-layers", "36",
                                 "--strategy", "skip", "--k", "7"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    numbers = [(int(r[1]), int(r[3])) for r in rows if len(r) == 5 and r[1].isdigit()]
    assert numbers == [(7, 9), (14, 18), (21, 27), (28, 36)]
    assert "4 pair(s)" in result.output


def test_cli_explicit_pairs_and_errors() -> None:
    ok = runner.invoke(app, ["layers", "--student-layers", "4", "--teacher-layers", "8",
                             "--strategy", "pairs", "--pairs", "1:2,4:8"])
    assert ok.exit_code == 0 and "2 pair(s)" in ok.output
    bad = runner.invoke(app, ["layers", "--student-layers", "28", "--teacher-layers", "36",
                              "--strategy", "pairs", "--pairs", "30:2"])
    assert bad.exit_code == 1
    assert "student layer 30 out of range 1..28" in bad.output
    mixed = runner.invoke(app, ["layers", "--student-layers", "4", "--teacher-layers", "8", "--pairs", "1:2"])
    assert mixed.exit_code == 1 and "--strategy pairs" in mixed.output
