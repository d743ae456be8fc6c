"""The zoo's networks as real Hugging Face classes, randomly initialised from a seed.

Student: Qwen2AudioForConditionalGeneration. Chosen over the Qwen2.5-Omni thinker because its
processor path (one `<|AUDIO|>` placeholder expanded to one token per pooled encoder frame, a whisper
encoder on a fixed window, a linear projector, a plain Qwen2 decoder with 1-D RoPE) is the simplest
and the best tested here, and the model carries no vision tower or M-RoPE that a nano audio model
would have to drag along. Teacher: Qwen3ForCausalLM (the paper's teacher family).

The whisper encoder's position table is frozen in HF and, unlike Whisper's, initialised randomly
there; here it gets Whisper's sinusoids, without which the encoder's attention is nearly blind to
order.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from audistill.models.zoo.config import StudentNet, TeacherNet

SAMPLING_RATE = 16000
AUDIO_TOKEN = "<|AUDIO|>"


def feature_extractor(net: StudentNet) -> Any:
    """The student's WhisperFeatureExtractor: `num_mel_bins` bins, `hop_length` hop, `window_s` window."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=net.num_mel_bins, sampling_rate=SAMPLING_RATE,
                                   hop_length=net.hop_length, chunk_length=net.window_s, n_fft=net.n_fft,
                                   return_attention_mask=True)


def mel_frames(net: StudentNet) -> int:
    """Log-mel frames in the encoder's window."""
    return net.window_s * SAMPLING_RATE // net.hop_length


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's position table: sin then cos of geometric frequencies (timescales 1 .. 10000)."""
    increment = math.log(10000) / (channels // 2 - 1)
    inverse = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float32))
    scaled = torch.arange(length, dtype=torch.float32)[:, None] * inverse[None, :]
    return torch.cat([scaled.sin(), scaled.cos()], dim=1)


def _vocab_rows(tokenizer: Any) -> int:
    return (len(tokenizer) + 63) // 64 * 64


def _text_kwargs(tokenizer: Any, hidden: int, layers: int, heads: int, kv_heads: int, ffn: int,
                 max_positions: int) -> dict[str, Any]:
    return {
        "vocab_size": _vocab_rows(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": max_positions,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
        "bos_token_id": None,
        "tie_word_embeddings": False,
    }


def student_model(net: StudentNet, tokenizer: Any, seed: int) -> Any:
    """A fresh nano Qwen2AudioForConditionalGeneration whose decoder shares `tokenizer`'s vocabulary."""
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2Config,
    )

    torch.manual_seed(seed)
    encoder = Qwen2AudioEncoderConfig(
        num_mel_bins=net.num_mel_bins, encoder_layers=net.encoder_layers,
        encoder_attention_heads=net.encoder_heads, encoder_ffn_dim=net.encoder_ffn, d_model=net.encoder_dim,
        max_source_positions=mel_frames(net) // 2, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0)
    text = Qwen2Config(**_text_kwargs(tokenizer, net.hidden_size, net.num_layers, net.num_heads,
                                      net.num_kv_heads, net.intermediate_size, 1024))
    config = Qwen2AudioConfig(audio_config=encoder, text_config=text,
                              audio_token_index=tokenizer.convert_tokens_to_ids(AUDIO_TOKEN))
    model = Qwen2AudioForConditionalGeneration(config)
    positions = model.model.audio_tower.embed_positions
    with torch.no_grad():
        positions.weight.copy_(sinusoids(*positions.weight.shape))
    return model


def teacher_model(net: TeacherNet, tokenizer: Any, seed: int) -> Any:
    """A fresh nano Qwen3ForCausalLM on `tokenizer`'s vocabulary."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    kwargs = _text_kwargs(tokenizer, net.hidden_size, net.num_layers, net.num_heads, net.num_kv_heads,
                          net.intermediate_size, 2048)
    return Qwen3ForCausalLM(Qwen3Config(**kwargs, head_dim=net.hidden_size // net.num_heads))


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
