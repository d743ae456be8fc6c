"""Run configuration: defaults, YAML loading, path-named errors, --set overrides, paper.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from audistill.cli import app
from audistill.config import ConfigError, RunConfig, describe_fields, dump_config, load_config

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "configs" / "paper.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_defaults_have_required_sections_and_names() -> None:
    cfg = load_config()
    for section in ("student", "textual_teacher", "acoustic_teacher", "sft", "data", "train", "eval"):
        assert hasattr(cfg, section)
    # Names later work and outside checks rely on.
    dumped = cfg.model_dump()
    for dotted in ("student.path", "textual_teacher.path", "data.train", "data.dev", "data.test",
                   "data.format", "data.audio_root", "train.output_dir", "train.seed",
                   "train.max_steps", "train.save_every", "train.batch_size", "train.grad_accum",
                   "train.lr"):
        node = dumped
        for part in dotted.split("."):
            assert part in node, dotted
            node = node[part]


def test_every_field_is_described() -> None:
    rows = describe_fields()
    assert len(rows) > 50
    missing = [path for path, text in rows if len(text) < 10]
    assert missing == []


def test_paper_config_has_the_papers_settings() -> None:
    cfg = load_config(PAPER)
    assert cfg.student.path == "Qwen/Qwen2.5-Omni-7B"
    assert cfg.textual_teacher.path == "Qwen/Qwen3-8B"
    assert cfg.textual_teacher.divergence == "jsd" and cfg.textual_teacher.beta == 0.5
    assert cfg.textual_teacher.layers.weight == 0.05
    assert cfg.acoustic_teacher.enabled and cfg.acoustic_teacher.weight == 0.05
    assert cfg.sft.weight == 0.5
    assert cfg.train.lr == 1e-5 and cfg.train.epochs == 3


def test_unknown_key_is_rejected_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "textual_teacher:\n  layers:\n    wieght: 0.1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "textual_teacher.layers.wieght: unknown key" in str(info.value)
    assert str(path) in str(info.value)


def test_bad_value_names_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "textual_teacher:\n  layers:\n    weight: -1\n")
    with pytest.raises(ConfigError, match=r"textual_teacher\.layers\.weight: must be >= 0"):
        load_config(path)


def test_wrong_type_and_literal_name_their_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  batch_size: many\nstudent:\n  dtype: float8\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "train.batch_size:" in message and "student.dtype:" in message


def test_cross_field_rules(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"textual_teacher\.cache_dir: required"):
        load_config(None, ["textual_teacher.source=cache"])
    with pytest.raises(ConfigError, match=r"acoustic_teacher\.form"):
        load_config(None, ["acoustic_teacher.form=adapter"])
    cfg = load_config(None, ["acoustic_teacher.form=adapter", "student.lora.enabled=true"])
    assert cfg.acoustic_teacher.form == "adapter"


def test_set_overrides_parse_yaml_values() -> None:
    cfg = load_config(PAPER, ["train.lr=2e-5", "train.max_steps=7", "student.lora.enabled=true",
                              "textual_teacher.layers.pairs=[[1, 2], [2, 4]]",
                              "textual_teacher.layers.strategy=pairs", "data.train=x.jsonl"])
    assert cfg.train.lr == 2e-5 and cfg.train.max_steps == 7 and cfg.student.lora.enabled
    assert cfg.textual_teacher.layers.pairs == [(1, 2), (2, 4)]
    assert cfg.data.train == "x.jsonl"
    # The file's other values survive the override.
    assert cfg.train.grad_accum == 8


def test_set_rejects_unknown_and_malformed_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'train\.learning_rate'"):
        load_config(None, ["train.learning_rate=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(None, ["train.lr"])
    with pytest.raises(ConfigError, match="not a section"):
        load_config(None, ["train.lr.x=1"])
    with pytest.raises(ConfigError, match=r"train\.lr: must be > 0"):
        load_config(None, ["train.lr=0"])


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_dump_round_trips() -> None:
    cfg = load_config(PAPER, ["train.seed=3"])
    again = RunConfig.model_validate(yaml.safe_load(dump_config(cfg)))
    assert again == cfg and again.hash() == cfg.hash()
    assert load_config(PAPER).hash() != cfg.hash()


def test_config_show_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["config", "show", str(PAPER), "--set", "train.lr=3e-5"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["train"]["lr"] == 3e-5
    assert shown["eval"]["top_k"] == 5  # a default filled in
    bad = runner.invoke(app, ["config", "show", str(PAPER), "--set", "sft.weight=-2"])
    assert bad.exit_code == 1
    assert "sft.weight: must be >= 0" in bad.output
