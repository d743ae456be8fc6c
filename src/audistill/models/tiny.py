"""Tiny random models of the real HF classes, built in code (no hub), for tests, the bench and the demo.

Everything here writes an ordinary checkpoint folder (config.json, safetensors weights, tokenizer files
and, for students, preprocessor_config.json) that the normal loading path (`audistill.models.load_student`,
`load_text_teacher`) reads back, exactly as it would read a real Qwen checkpoint.

Builders:
- `build_tiny_tokenizer(out_dir=None, vocab_size=384, corpus=None)`: a byte-level BPE tokenizer trained in
  memory, with the Qwen special tokens (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, `<|audio_bos|>`,
  `<|AUDIO|>`, `<|audio_eos|>`, vision tokens) and a ChatML chat template. Byte-level, so any text
  encodes without unknown tokens. The same arguments give the same tokenizer (training is deterministic);
  a different `vocab_size` or `corpus` gives one that splits text differently.
- `build_tiny_student(family, out_dir, ...)`: a Qwen2-Audio (`"qwen2_audio"`), Qwen2.5-Omni thinker
  (`"qwen2_5_omni_thinker"`) or full Qwen2.5-Omni checkpoint without talker (`"qwen2_5_omni"`, the
  layout of the released model, from which only the thinker is loaded).
- `build_tiny_text_lm(arch, out_dir, ...)`: a Qwen2ForCausalLM (`"qwen2"`) or Qwen3ForCausalLM
  (`"qwen3"`) textual teacher.

Pass the same tokenizer object (or the same `build_tiny_tokenizer` arguments) to a student and a teacher
to get a pair with a shared vocabulary; give the models different `vocab_size` (embedding rows) to mimic
Qwen's padded embeddings (151936 vs 152064). Audio windows are short (`audio_window_s`, default 2 s)
so the whisper-style encoder stays tiny: clips longer than the window are cut, as the real processors
cut at 30 s.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import torch

from audistill.models.checkpoint import quiet_transformers

StudentFamily = Literal["qwen2_audio", "qwen2_5_omni_thinker", "qwen2_5_omni"]
TextArch = Literal["qwen2", "qwen3"]

# Order matters only for the ids they get (0..9): the same in every tiny tokenizer.
TINY_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|audio_bos|>",
    "<|AUDIO|>",
    "<|audio_eos|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
)

# ChatML as the Qwen instruct tokenizers ship it (a default system turn when none is given).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_DEFAULT_CORPUS = (
    "You are a helpful assistant. Listen to the audio and answer the question. "
    "What is the emotion of the speaker? Which instrument plays the melody? How many beeps are there? "
    "Choose one of the following options. Audio description: a man speaks slowly in a calm voice; "
    "a dog barks twice; a piano plays a rising melody in C major at 120 beats per minute; rain falls. "
    "<THINK><PLANNING>I will listen, describe, reason and answer.</PLANNING><CAPTION>The clip has speech "
    "and noise.</CAPTION><REASONING>The pitch rises, so the speaker sounds happy, not sad or angry."
    "</REASONING><SUMMARY>The answer follows from the tone.</SUMMARY></THINK><RESPONSE>happy</RESPONSE> "
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 yes no true false "
    "sound music speech easy medium hard neutral sad angry happy surprised fearful disgusted "
    "guitar violin drums flute trumpet bell siren engine bird cat car door knock clap whistle. "
)


def build_tiny_tokenizer(
    out_dir: str | Path | None = None, vocab_size: int = 384, corpus: Iterable[str] | None = None
):  # -> PreTrainedTokenizerFast (annotation omitted: transformers is imported lazily)
    """Train a byte-level BPE tokenizer with the Qwen special tokens; save it to `out_dir` if given.

    `vocab_size` counts the special tokens and the 256 byte symbols, so it must exceed 266. The
    tokenizer's pad token is `<|endoftext|>` and its eos token `<|im_end|>`, as in Qwen instruct models.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    minimum = 256 + len(TINY_SPECIAL_TOKENS) + 1
    if vocab_size < minimum:
        raise ValueError(f"vocab_size {vocab_size}: a byte-level tokenizer needs at least {minimum}")
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(TINY_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = list(corpus) if corpus is not None else [_DEFAULT_CORPUS] * 4
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(TINY_SPECIAL_TOKENS[1:]),
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(str(out_dir))
    return tokenizer


def tiny_feature_extractor(num_mel_bins: int = 16, audio_window_s: int = 2, sampling_rate: int = 16000):
    """A WhisperFeatureExtractor with few mel bins and a short window (100 frames per second)."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(
        feature_size=num_mel_bins,
        sampling_rate=sampling_rate,
        hop_length=160,
        chunk_length=audio_window_s,
        n_fft=400,
        return_attention_mask=True,
    )


def _rounded(n: int, multiple: int = 64) -> int:
    return (n + multiple - 1) // multiple * multiple


def _text_config_kwargs(
    tokenizer, vocab_size: int | None, hidden_size: int, num_layers: int, num_heads: int
) -> dict[str, object]:
    return {
        "vocab_size": vocab_size if vocab_size is not None else _rounded(len(tokenizer)),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": max(1, num_heads // 2),
        "max_position_embeddings": 4096,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def _check_room(tokenizer, vocab_size: int | None) -> None:
    if vocab_size is not None and vocab_size < len(tokenizer):
        raise ValueError(f"vocab_size {vocab_size} is smaller than the tokenizer ({len(tokenizer)} tokens)")


def build_tiny_student(
    family: StudentFamily,
    out_dir: str | Path,
    *,
    tokenizer=None,
    vocab_size: int | None = None,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    encoder_dim: int = 32,
    encoder_layers: int = 1,
    num_mel_bins: int = 16,
    audio_window_s: int = 2,
    seed: int = 0,
) -> Path:
    """Write a tiny random audio student of the real HF class to `out_dir`; return the folder.

    `tokenizer`: a tokenizer from `build_tiny_tokenizer` (default: a fresh one with default arguments).
    `vocab_size`: embedding rows (default: the tokenizer size rounded up to 64). The audio encoder reads
    `audio_window_s` seconds of 16 kHz audio as `num_mel_bins` mel bins (100 frames per second) and
    emits one audio token per 4 mel frames, as the released models do.
    """
    from transformers import (
        Qwen2_5OmniAudioEncoderConfig,
        Qwen2_5OmniConfig,
        Qwen2_5OmniForConditionalGeneration,
        Qwen2_5OmniTextConfig,
        Qwen2_5OmniThinkerConfig,
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2_5OmniVisionEncoderConfig,
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2Config,
    )

    tokenizer = tokenizer if tokenizer is not None else build_tiny_tokenizer()
    _check_room(tokenizer, vocab_size)
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in TINY_SPECIAL_TOKENS}
    text_kwargs = _text_config_kwargs(tokenizer, vocab_size, hidden_size, num_layers, num_heads)
    mel_frames = audio_window_s * 100
    encoder_kwargs = {
        "num_mel_bins": num_mel_bins,
        "encoder_layers": encoder_layers,
        "encoder_attention_heads": 2,
        "encoder_ffn_dim": encoder_dim * 2,
        "d_model": encoder_dim,
        "max_source_positions": mel_frames // 2,
    }
    torch.manual_seed(seed)
    if family == "qwen2_audio":
        config = Qwen2AudioConfig(
            audio_config=Qwen2AudioEncoderConfig(**encoder_kwargs),
            text_config=Qwen2Config(**text_kwargs),
            audio_token_index=ids["<|AUDIO|>"],
        )
        model = Qwen2AudioForConditionalGeneration(config)
    else:
        head_dim = hidden_size // num_heads
        half = head_dim // 2
        # M-RoPE splits the rotary half-dimension into temporal/height/width sections.
        mrope = [half - 2 * (half // 3), half // 3, half // 3]
        thinker_config = Qwen2_5OmniThinkerConfig(
            audio_config=Qwen2_5OmniAudioEncoderConfig(
                **encoder_kwargs, n_window=max(2, mel_frames // 4), output_dim=hidden_size
            ),
            vision_config=Qwen2_5OmniVisionEncoderConfig(
                depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=hidden_size,
                fullatt_block_indexes=[0],
            ),
            text_config=Qwen2_5OmniTextConfig(
                **text_kwargs,
                tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope},
            ),
            audio_token_index=ids["<|AUDIO|>"],
            image_token_index=ids["<|IMAGE|>"],
            video_token_index=ids["<|VIDEO|>"],
            audio_start_token_id=ids["<|audio_bos|>"],
            audio_end_token_id=ids["<|audio_eos|>"],
            vision_start_token_id=ids["<|vision_bos|>"],
            vision_end_token_id=ids["<|vision_eos|>"],
            user_token_id=ids["<|im_start|>"],
        )
        if family == "qwen2_5_omni_thinker":
            model = Qwen2_5OmniThinkerForConditionalGeneration(thinker_config)
        elif family == "qwen2_5_omni":
            with quiet_transformers():  # the unused talker's default config names out-of-vocab ids
                model = Qwen2_5OmniForConditionalGeneration(
                    Qwen2_5OmniConfig(thinker_config=thinker_config, enable_audio_output=False)
                )
        else:
            raise ValueError(f"unknown student family {family!r}; expected qwen2_audio, "
                             "qwen2_5_omni_thinker or qwen2_5_omni")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    tiny_feature_extractor(num_mel_bins, audio_window_s).save_pretrained(str(out))
    return out


def build_tiny_text_lm(
    arch: TextArch,
    out_dir: str | Path,
    *,
    tokenizer=None,
    vocab_size: int | None = None,
    hidden_size: int = 48,
    num_layers: int = 4,
    num_heads: int = 4,
    seed: int = 1,
) -> Path:
    """Write a tiny random Qwen2ForCausalLM (`"qwen2"`) or Qwen3ForCausalLM (`"qwen3"`) to `out_dir`.

    Same `tokenizer` and `vocab_size` conventions as `build_tiny_student`. The default depth (4) differs
    from the student's (2) so layer maps have something to map.
    """
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tokenizer = tokenizer if tokenizer is not None else build_tiny_tokenizer()
    _check_room(tokenizer, vocab_size)
    kwargs = _text_config_kwargs(tokenizer, vocab_size, hidden_size, num_layers, num_heads)
    torch.manual_seed(seed)
    if arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**kwargs, tie_word_embeddings=False))
    elif arch == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(**kwargs, head_dim=hidden_size // num_heads,
                                             tie_word_embeddings=False))
    else:
        raise ValueError(f"unknown text LM architecture {arch!r}; expected qwen2 or qwen3")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out
