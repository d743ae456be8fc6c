"""Batched generation: left padding equals one-by-one decoding, seeded sampling, stops, order, views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audistill.data.example import Example
from audistill.eval.generate import (
    DecodingSettings,
    Generation,
    GenerationError,
    PromptMaker,
    PromptOptions,
    batch_seed,
    generate,
    generate_batch,
    generate_texts,
    split_outputs,
    stop_token_ids,
    teacher_prompt_ids,
)
from audistill.models.batch import TextBatch
from audistill.models.load import load_adaptor
from audistill.models.tiny import build_tiny_student, build_tiny_text_lm, build_tiny_tokenizer
from audistill.views import DESCRIBE_PROMPT, ViewBuilder

FAMILIES = ("qwen2_audio", "qwen2_5_omni_thinker", "qwen3")
GREEDY = DecodingSettings(max_new_tokens=10)
PAPER = DecodingSettings(mode="paper", max_new_tokens=10, seed=7)
# Clip lengths (s) and question padding chosen so the input order is not the length order.
CLIPS = ((0.5, 0), (1.9, 3), (1.1, 1), (0.3, 5))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models decode as many small ops; on the 2 shared cores, 2 torch threads made each decoding
    step about 100x slower than 1 (measured: 10 s vs 0.1 s for 4 prompts). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("generate")
    tokenizer = build_tiny_tokenizer()
    examples = []
    for index, (seconds, extra_words) in enumerate(CLIPS):
        t = np.arange(int(16000 * seconds)) / 16000
        wave = (0.3 * np.sin(2 * np.pi * (220 + 90 * index) * t)).astype(np.float32)
        sf.write(root / f"clip{index}.wav", wave, 16000)
        examples.append(Example(
            id=f"item-{index}", audio=str(root / f"clip{index}.wav"),
            question="Which instrument plays the melody?" + " please" * extra_words,
            choices=["guitar", "piano", "violin"], answer="piano", task="music",
            description="a piano plays a slow melody" + ", then rain falls" * index,
            origin=f"data.json:{index}"))
    models = {
        "qwen2_audio": build_tiny_student("qwen2_audio", root / "q2a", tokenizer=tokenizer),
        "qwen2_5_omni_thinker": build_tiny_student("qwen2_5_omni_thinker", root / "omni",
                                                   tokenizer=tokenizer),
        "qwen3": build_tiny_text_lm("qwen3", root / "qwen3", tokenizer=tokenizer),
    }
    return {"root": root, "examples": examples,
            "adaptors": {name: load_adaptor(str(path), device="cpu") for name, path in models.items()}}


def texts(generations: list[Generation]) -> list[str]:
    return [g.text for g in generations]


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_greedy_equals_one_by_one(world, family):
    adaptor, examples = world["adaptors"][family], world["examples"]
    batched = generate(adaptor, examples, settings=GREEDY, batch_size=4)
    alone = [generate(adaptor, [example], settings=GREEDY, batch_size=1)[0] for example in examples]
    assert [(g.text, g.new_tokens, g.prompt_tokens) for g in batched] == \
        [(g.text, g.new_tokens, g.prompt_tokens) for g in alone]
    # The batch really was padded: its prompts have different lengths.
    assert len({g.prompt_tokens for g in batched}) == len(examples)


@pytest.mark.parametrize("family", FAMILIES)
def test_padding_is_masked_not_attended(world, family):
    """Control for the test above: attending to the padding changes the padded rows' outputs."""
    adaptor, examples = world["adaptors"][family], world["examples"]
    maker = PromptMaker(adaptor, "prompt" if family != "qwen3" else "teacher", PromptOptions())
    batch = maker.batch(examples)
    padded = (batch.attention_mask == 0).any(dim=1)
    assert bool(padded.any())
    proper = generate_batch(adaptor, batch, GREEDY)
    batch.attention_mask = torch.ones_like(batch.attention_mask)
    attended = generate_batch(adaptor, batch, GREEDY)
    rows = padded.nonzero().flatten().tolist()
    assert any(proper[r].text != attended[r].text for r in rows)
    unpadded = (~padded).nonzero().flatten().tolist()
    assert all(proper[r].text == attended[r].text for r in unpadded)


@pytest.mark.parametrize("family", FAMILIES)
def test_results_come_back_in_input_order(world, family):
    adaptor, examples = world["adaptors"][family], world["examples"]
    maker = PromptMaker(adaptor, "prompt" if family != "qwen3" else "teacher", PromptOptions())
    keys = [maker.length_key(e) for e in examples]
    assert keys != sorted(keys, reverse=True)  # sorting by length does reorder these examples
    out = generate(adaptor, examples, settings=GREEDY, batch_size=2)
    assert [g.example_id for g in out] == [e.id for e in examples]
    reversed_out = generate(adaptor, examples[::-1], settings=GREEDY, batch_size=2)
    assert texts(reversed_out) == texts(out)[::-1]


def test_length_key_orders_like_the_real_prompts(world):
    adaptor, examples = world["adaptors"]["qwen2_audio"], world["examples"]
    maker = PromptMaker(adaptor, "prompt", PromptOptions())
    keys = [maker.length_key(e) for e in examples]
    real = [len(maker.view_of(e).input_ids) for e in examples]
    # The estimate leaves out the template's constant part only.
    assert len({r - k for r, k in zip(real, keys, strict=True)}) == 1


@pytest.mark.parametrize("family", ("qwen2_audio", "qwen3"))
def test_greedy_is_deterministic(world, family):
    adaptor, examples = world["adaptors"][family], world["examples"]
    assert texts(generate(adaptor, examples, settings=GREEDY, batch_size=3)) == \
        texts(generate(adaptor, examples, settings=GREEDY, batch_size=3))


@pytest.mark.parametrize("family", FAMILIES)
def test_paper_decoding_is_seeded_sampling(world, family):
    adaptor, examples = world["adaptors"][family], world["examples"]
    first = texts(generate(adaptor, examples, settings=PAPER, batch_size=2))
    assert first == texts(generate(adaptor, examples, settings=PAPER, batch_size=2))
    assert first != texts(generate(adaptor, examples, settings=GREEDY, batch_size=2))
    other_seed = DecodingSettings(mode="paper", max_new_tokens=10, seed=8)
    assert first != texts(generate(adaptor, examples, settings=other_seed, batch_size=2))


def test_decoding_arguments():
    expected = {"do_sample": True, "temperature": 0.6, "top_k": 5, "top_p": 0.5, "num_beams": 1,
                "repetition_penalty": 1.0, "max_new_tokens": 10}
    assert PAPER.generate_kwargs().items() >= expected.items()
    greedy = GREEDY.generate_kwargs()
    assert greedy["do_sample"] is False and greedy["num_beams"] == 1 and greedy["repetition_penalty"] == 1.0
    assert not {"temperature", "top_k", "top_p"} & set(greedy)
    with pytest.raises(ValueError, match="greedy or paper"):
        DecodingSettings(mode="beam")  # type: ignore[arg-type]
    assert batch_seed(0, 1) != batch_seed(1, 0) and batch_seed(3, 2) == batch_seed(3, 2)


def test_a_checkpoints_sampling_defaults_do_not_leak_into_greedy(world):
    adaptor, examples = world["adaptors"]["qwen3"], world["examples"]
    reference = texts(generate(adaptor, examples, settings=GREEDY))
    config = adaptor.hf_model.generation_config
    saved = config.to_dict()
    config.do_sample, config.temperature, config.top_k, config.repetition_penalty = True, 2.0, 3, 1.5
    try:
        assert texts(generate(adaptor, examples, settings=GREEDY)) == reference
    finally:
        for key in ("do_sample", "temperature", "top_k", "repetition_penalty"):
            setattr(config, key, saved.get(key))


def test_generation_leaves_rng_and_training_mode_alone(world):
    adaptor, examples = world["adaptors"]["qwen2_audio"], world["examples"]
    adaptor.hf_model.train()
    state = torch.get_rng_state()
    generate(adaptor, examples[:2], settings=PAPER)
    assert torch.equal(state, torch.get_rng_state())
    assert adaptor.hf_model.training
    adaptor.hf_model.eval()


def test_outputs_are_cut_at_the_first_stop_token(world):
    adaptor = world["adaptors"]["qwen3"]
    tokenizer = adaptor.tokenizer
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.pad_token_id
    words = tokenizer("piano plays", add_special_tokens=False)["input_ids"]
    batch = TextBatch(input_ids=torch.ones(2, 3, dtype=torch.long),
                      attention_mask=torch.tensor([[0, 1, 1], [1, 1, 1]]),
                      labels=torch.full((2, 3), -100), example_ids=["a", "b"])
    new = torch.tensor([[*words, im_end, pad, pad], [*words, *words, *words][:len(words) + 3]])
    first, second = split_outputs(adaptor, batch, new, stop_token_ids(adaptor))
    assert (first.text, first.new_tokens, first.stopped, first.prompt_tokens) == \
        ("piano plays", len(words) + 1, True, 2)
    assert (second.new_tokens, second.stopped, second.prompt_tokens) == (len(words) + 3, False, 3)
    assert second.text == tokenizer.decode(new[1].tolist())


def test_stop_tokens_hold_end_of_turn_and_every_configured_eos(world):
    adaptor = world["adaptors"]["qwen2_audio"]
    config = adaptor.hf_model.generation_config
    saved = config.eos_token_id
    config.eos_token_id = [adaptor.tokenizer.convert_tokens_to_ids("<|im_end|>"), 0]
    try:
        stops = stop_token_ids(adaptor)
    finally:
        config.eos_token_id = saved
    assert stops == [adaptor.tokenizer.convert_tokens_to_ids("<|im_end|>"), 0]


def test_generation_halts_on_end_of_turn(world):
    adaptor, examples = world["adaptors"]["qwen3"], world["examples"]
    head = adaptor.hf_model.lm_head
    im_end = adaptor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        biased.bias[im_end] = 1e4  # end-of-turn wins every step
    adaptor.hf_model.lm_head = biased
    try:
        out = generate(adaptor, examples, settings=GREEDY, batch_size=4)
    finally:
        adaptor.hf_model.lm_head = head
    assert [(g.text, g.new_tokens, g.stopped) for g in out] == [("", 1, True)] * len(examples)


def test_teacher_prompt_is_the_teacher_views_prompt(world):
    student, teacher = world["adaptors"]["qwen2_audio"], world["adaptors"]["qwen3"]
    example = world["examples"][2]
    example_with_target = Example(**{**example.__dict__, "reasoning": None})
    view = ViewBuilder.for_models(student, teacher).teacher_view(example_with_target)
    prompt = [t for t, label in zip(view.input_ids, view.labels, strict=True) if label == -100]
    assert teacher_prompt_ids(teacher.tokenizer, example, PromptOptions()) == prompt


def test_describe_view_asks_for_a_description(world):
    student, examples = world["adaptors"]["qwen2_5_omni_thinker"], world["examples"]
    batch = PromptMaker(student, "describe", PromptOptions()).batch(examples[:2])
    decoded = student.tokenizer.decode(batch.input_ids[0])
    assert DESCRIBE_PROMPT in decoded and "Which instrument" not in decoded
    described = generate_texts(student, examples, view="describe", settings=GREEDY, batch_size=2)
    assert described == texts(generate(student, examples, "describe", GREEDY, batch_size=4))
    assert described != texts(generate(student, examples, "prompt", GREEDY, batch_size=4))


def test_text_model_needs_descriptions_and_the_teacher_view(world):
    text_lm, examples = world["adaptors"]["qwen3"], world["examples"]
    lacking = [examples[0], Example(**{**examples[1].__dict__, "description": None}),
               Example(**{**examples[2].__dict__, "description": "  "})]
    with pytest.raises(GenerationError, match=r"2 of 3 .*'item-1' \(data.json:1\), 'item-2'"):
        generate(text_lm, lacking)
    with pytest.raises(GenerationError, match="needs an audio model"):
        generate(text_lm, examples, view="prompt")
    with pytest.raises(GenerationError, match="unknown view"):
        generate(text_lm, examples, view="caption")  # type: ignore[arg-type]


def test_unreadable_audio_names_the_example(world):
    student, examples = world["adaptors"]["qwen2_audio"], world["examples"]
    broken = Example(**{**examples[0].__dict__, "audio": str(Path(world["root"]) / "none.wav")})
    with pytest.raises(GenerationError, match="item-0"):
        generate(student, [broken])


def test_generation_runs_the_lora_adapters(world):
    from audistill.config import LoraConfig, StudentConfig
    from audistill.models.load import load_student

    examples = world["examples"]
    base = world["adaptors"]["qwen2_audio"]
    student = load_student(StudentConfig(path=base.path, device="cpu", lora=LoraConfig(enabled=True, r=4,
                                                                                       dropout=0.0)))
    reference = texts(generate(base, examples, settings=GREEDY))
    assert texts(generate(student, examples, settings=GREEDY)) == reference  # LoRA B starts at zero
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in student.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 1.0)
    assert texts(generate(student, examples, settings=GREEDY)) != reference
    with student.adapter_disabled():
        assert texts(generate(student, examples, settings=GREEDY)) == reference
