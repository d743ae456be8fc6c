"""Student and teacher views of Examples, target alignment, collation and the audio guard."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audistill.data.example import Example
from audistill.models.adaptor import audio_tokens_for_frames
from audistill.models.batch import IGNORE_INDEX
from audistill.models.load import load_adaptor
from audistill.models.tiny import build_tiny_student, build_tiny_text_lm, build_tiny_tokenizer
from audistill.views import (
    DESCRIBE_PROMPT,
    AlignmentError,
    AudioGuardError,
    ViewBuilder,
    ViewError,
    audio_guard,
    collate_students,
    render_prompt,
)

TRACE = ("<THINK><PLANNING>Listen first.</PLANNING><CAPTION>A piano plays.</CAPTION><REASONING>The "
         "timbre is a piano, not a guitar.</REASONING><SUMMARY>Piano.</SUMMARY></THINK><RESPONSE>piano"
         "</RESPONSE>")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("views")
    tokenizer = build_tiny_tokenizer()
    other = build_tiny_tokenizer(vocab_size=300)  # same corpus, fewer merges: splits text differently
    t = np.arange(16000 * 2) / 16000
    sf.write(root / "short.wav", (0.3 * np.sin(2 * np.pi * 440 * t[:11200])).astype(np.float32), 16000)
    sf.write(root / "long.wav", (0.3 * np.sin(2 * np.pi * 220 * t[:20800])).astype(np.float32), 16000)
    t8 = np.arange(8000) / 8000  # 1 s at 8 kHz: resampled to 16 kHz
    sf.write(root / "low_rate.wav", (0.3 * np.sin(2 * np.pi * 300 * t8)).astype(np.float32), 8000)
    return {
        "root": root,
        "q2a": load_adaptor(str(build_tiny_student("qwen2_audio", root / "q2a", tokenizer=tokenizer)),
                            device="cpu"),
        "omni": load_adaptor(str(build_tiny_student("qwen2_5_omni_thinker", root / "omni",
                                                    tokenizer=tokenizer)), device="cpu"),
        "teacher": load_adaptor(str(build_tiny_text_lm("qwen3", root / "t", tokenizer=tokenizer,
                                                       vocab_size=448)), device="cpu"),
        "other": load_adaptor(str(build_tiny_text_lm("qwen2", root / "o", tokenizer=other)), device="cpu"),
    }


def example(root: Path, name: str = "short", **changes) -> Example:
    base = Example(id=f"ex-{name}", audio=str(root / f"{name}.wav"), question="Which instrument plays?",
                   choices=["guitar", "piano"], answer="piano", task="music", reasoning=TRACE,
                   description="a piano plays a slow rising melody", origin=f"train.jsonl:{len(name)}")
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_student_prompt_is_what_the_qwen2_audio_processor_makes(world):
    from transformers import Qwen2AudioProcessor

    student = world["q2a"]
    builder = ViewBuilder.for_models(student)
    ex = example(world["root"], "long")
    view = builder.prompt_view(ex)
    processor = Qwen2AudioProcessor(feature_extractor=student.feature_extractor, tokenizer=student.tokenizer)
    text = render_prompt(student.tokenizer, builder.system_prompt,
                         student.audio_format.placeholder + "Which instrument plays?\nChoose one of the "
                         "following options:\nguitar\npiano")
    wave, _ = sf.read(ex.audio, dtype="float32")
    made = processor(text=text, audio=[wave], sampling_rate=16000, return_tensors="pt")
    assert view.input_ids == made["input_ids"][0].tolist()
    assert torch.equal(view.feature_attention_mask, made["feature_attention_mask"][0].long())
    torch.testing.assert_close(view.input_features, made["input_features"][0])
    assert view.audio_tokens == audio_tokens_for_frames(130) == 32
    assert all(label == IGNORE_INDEX for label in view.labels)


def test_both_views_end_in_the_same_target(world):
    student, teacher = world["q2a"], world["teacher"]
    pair = ViewBuilder.for_models(student, teacher).pair(example(world["root"]))
    tok = student.tokenizer
    assert pair.teacher is not None
    assert pair.student.target_ids == pair.teacher.target_ids
    assert tok.decode(pair.student.target_ids) == TRACE + "<|im_end|>"
    for view in (pair.student, pair.teacher):
        n = len(view.target_ids)  # the target is the labelled suffix, nothing else is labelled
        assert view.labels[-n:] == view.input_ids[-n:]
        assert set(view.labels[:-n]) == {IGNORE_INDEX}
    student_text = tok.decode(pair.student.input_ids)
    teacher_text = tok.decode(pair.teacher.input_ids)
    assert student_text.count("<|AUDIO|>") == pair.student.audio_tokens == audio_tokens_for_frames(70)
    assert "<|AUDIO|>" not in teacher_text
    assert "Audio description: a piano plays a slow rising melody\nWhich instrument plays?" in teacher_text
    assert "<|audio_eos|>\nWhich instrument plays?\nChoose one of the following options:\nguitar\npiano" \
        in student_text
    assert teacher_text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")


def test_without_a_trace_the_target_is_the_wrapped_answer(world):
    builder = ViewBuilder.for_models(world["q2a"], world["teacher"])
    pair = builder.pair(example(world["root"], reasoning=None))
    assert world["q2a"].tokenizer.decode(pair.student.target_ids) == "<RESPONSE>piano</RESPONSE><|im_end|>"


def test_missing_description_is_a_data_error(world):
    builder = ViewBuilder.for_models(world["q2a"], world["teacher"])
    with pytest.raises(ViewError, match=r"example 'ex-short' \(train\.jsonl:5\): no audio description"):
        builder.pair(example(world["root"], description="  "))
    from_meta = ViewBuilder.for_models(world["q2a"], world["teacher"], description_field="caption")
    pair = from_meta.pair(example(world["root"], description=None, meta={"caption": "a bright piano"}))
    assert "Audio description: a bright piano" in world["teacher"].tokenizer.decode(pair.teacher.input_ids)


def test_tokenizers_that_split_the_target_differently_are_refused(world):
    student, other = world["q2a"], world["other"]
    ours = student.tokenizer(TRACE, add_special_tokens=False)["input_ids"]
    theirs = other.tokenizer(TRACE, add_special_tokens=False)["input_ids"]
    k = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b)
    token = student.tokenizer.convert_ids_to_tokens(ours[k])
    builder = ViewBuilder.for_models(student, other)
    with pytest.raises(AlignmentError) as caught:
        builder.pair(example(world["root"]))
    message = str(caught.value)
    assert "example 'ex-short'" in message
    assert f"first difference at target token {k}: student id {ours[k]} {token!r}" in message


def test_different_vocab_sizes_still_align(world):
    student, teacher = world["q2a"], world["teacher"]
    assert (student.vocab_size, teacher.vocab_size) == (384, 448)
    batch = ViewBuilder.for_models(student, teacher).batch([example(world["root"]),
                                                            example(world["root"], "long")])
    assert batch.teacher is not None
    with torch.no_grad():
        s_rec = student.forward(batch.student, want_hidden=False)
        t_rec = teacher.forward(batch.teacher, want_hidden=False)
    assert torch.equal(s_rec.target_ids, t_rec.target_ids)
    assert s_rec.tokens_per_example == t_rec.tokens_per_example == batch.student.target_counts()
    assert (s_rec.response_logits.shape[1], t_rec.response_logits.shape[1]) == (384, 448)


def test_collate_pads_right_and_keeps_audio(world):
    builder = ViewBuilder.for_models(world["q2a"], world["teacher"])
    pairs = [builder.pair(example(world["root"])), builder.pair(example(world["root"], "long"))]
    batch = builder.collate(pairs)
    s = batch.student
    lengths = [len(p.student.input_ids) for p in pairs]
    assert s.input_ids.shape == (2, max(lengths))
    assert s.attention_mask.sum(dim=1).tolist() == lengths
    short = int(np.argmin(lengths))
    assert s.input_ids[short, lengths[short]:].eq(builder.student_pad_id).all()
    assert s.labels[short, lengths[short]:].eq(IGNORE_INDEX).all()
    assert s.audio_counts() == [p.student.audio_tokens for p in pairs]
    assert s.input_features is not None and s.input_features.shape == (2, 16, 200)
    assert s.feature_attention_mask.sum(dim=1).tolist() == [70, 130]
    assert batch.example_ids == ["ex-short", "ex-long"]
    assert s.target_counts() == batch.teacher.target_counts()


def test_prompt_views_pad_left_for_generation(world):
    builder = ViewBuilder.for_models(world["q2a"])
    views = [builder.prompt_view(example(world["root"])), builder.prompt_view(example(world["root"], "long"))]
    batch = collate_students(views, builder.student_pad_id, builder.audio_format, padding_side="left")
    assert batch.attention_mask[:, -1].eq(1).all() and batch.attention_mask[0, 0] == 0
    assert world["q2a"].tokenizer.decode(views[0].input_ids).endswith("<|im_start|>assistant\n")
    assert batch.target_counts() == [0, 0]


def test_describe_view_asks_for_a_description(world):
    view = ViewBuilder.for_models(world["omni"]).describe_view(example(world["root"]))
    text = world["omni"].tokenizer.decode(view.input_ids)
    assert DESCRIBE_PROMPT in text and "Which instrument" not in text
    assert text.count("<|AUDIO|>") == view.audio_tokens and view.target_ids == []


def test_omni_student_batch_runs_through_the_thinker(world):
    omni = world["omni"]
    batch = ViewBuilder.for_models(omni, world["teacher"]).batch([example(world["root"]),
                                                                   example(world["root"], "low_rate")])
    text = omni.tokenizer.decode(batch.student.input_ids[0])
    assert "<|audio_bos|><|AUDIO|>" in text and "Audio 1:" not in text
    # 1 s at 8 kHz is resampled to 16 kHz: 100 mel frames, 25 audio tokens.
    assert batch.student.feature_attention_mask.sum(dim=1).tolist() == [70, 100]
    assert batch.student.audio_counts() == [audio_tokens_for_frames(70), 25]
    with torch.no_grad():  # the thinker itself checks that audio tokens and features agree
        record = omni.forward(batch.student, want_hidden=False, want_audio_hidden=True)
    assert record.audio_tokens_per_example == batch.student.audio_counts()


def test_sequence_longer_than_max_length_names_the_example(world):
    builder = ViewBuilder.for_models(world["q2a"], world["teacher"], max_length=40)
    with pytest.raises(ViewError, match=r"'ex-short'.*student sequence is \d+ tokens.*max_length \(40\)"):
        builder.pair(example(world["root"]))


def test_unreadable_audio_names_the_example(world):
    builder = ViewBuilder.for_models(world["q2a"])
    with pytest.raises(ViewError, match=r"example 'ex-gone'.*audio file not found"):
        builder.student_view(example(world["root"], "gone"))


def test_chatml_fallback_renders_like_the_template(world):
    tok = copy.deepcopy(world["q2a"].tokenizer)
    with_template = render_prompt(tok, "sys", "hello")
    tok.chat_template = None
    assert render_prompt(tok, "sys", "hello") == with_template == (
        "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")


def _good_batch(world):
    builder = ViewBuilder.for_models(world["q2a"], guard=False)
    return builder, builder.collate([builder.pair(example(world["root"])),
                                     builder.pair(example(world["root"], "long"))]).student


def test_guard_passes_a_good_batch(world):
    builder, batch = _good_batch(world)
    audio_guard(batch, builder.audio_format)


def test_guard_fires_without_features(world):
    builder, batch = _good_batch(world)
    batch.input_features = None
    with pytest.raises(AudioGuardError, match=r"2 of 2 .*\n  ex-short: no audio features.*\n  ex-long"):
        audio_guard(batch, builder.audio_format)


def test_guard_fires_on_unexpanded_or_missing_audio_tokens(world):
    builder, batch = _good_batch(world)
    audio_id, pad = builder.audio_format.audio_token_id, builder.student_pad_id
    row = batch.input_ids[1]
    first = int((row == audio_id).nonzero()[0])
    row[first] = pad  # one placeholder short: 31 tokens for 130 frames
    batch.audio_mask = batch.input_ids == audio_id
    with pytest.raises(AudioGuardError, match=r"(?s)1 of 2.*ex-long: 31 audio placeholder tokens, but "
                                              r"its 130 mel frames give 32"):
        audio_guard(batch, builder.audio_format)
    batch.input_ids[0][batch.input_ids[0] == audio_id] = pad
    with pytest.raises(AudioGuardError, match=r"ex-short: no audio placeholder tokens"):
        audio_guard(batch, builder.audio_format)


def test_guard_fires_on_empty_or_zero_features(world):
    builder, batch = _good_batch(world)
    batch.feature_attention_mask[0] = 0
    batch.input_features[1] = 0.0
    with pytest.raises(AudioGuardError) as caught:
        audio_guard(batch, builder.audio_format)
    assert "ex-short: empty audio features (0 mel frames)" in str(caught.value)
    assert "ex-long: audio features are all zero" in str(caught.value)


def test_collate_runs_the_guard(world):
    builder = ViewBuilder.for_models(world["q2a"])
    pair = builder.pair(example(world["root"]))
    pair.student.input_features = None
    pair.student.feature_attention_mask = None
    with pytest.raises(AudioGuardError, match="ex-short"):
        builder.collate([pair])
