"""The student's training forward: HF Qwen2-Audio's own computation, on only the frames a batch needs.

HF runs the whisper encoder over the whole window (5 s) for every clip, although the benchmark's clips
average half of it and the frames past a clip's end are masked out of attention. Here the same modules
run on the batch's longest clip plus a margin that covers the two convolutions' reach, so every kept
encoder output is exactly what HF computes (tests check it), at about half the cost. The audio states
are then projected and written over the `<|AUDIO|>` placeholders, as HF does, and the decoder runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from audistill.models.adaptor import audio_tokens_for_frames

# Frames past a clip's last real frame that its last kept encoder output can see (conv1 and conv2 both
# have kernel 3; conv2 has stride 2).
CONV_REACH = 4


@dataclass
class AudioStates:
    """Encoder outputs after pooling and the final layer norm: [B, T, d_enc], and each clip's T."""

    states: Tensor
    lengths: Tensor  # [B] long: audio tokens of each clip

    def valid_mask(self) -> Tensor:
        positions = torch.arange(self.states.shape[1], device=self.states.device)
        return positions[None, :] < self.lengths[:, None]


def encode_audio(model: Any, features: Tensor, frames: Tensor) -> AudioStates:
    """Run the student's audio encoder on the first frames of `features` ([B, n_mels, F]).

    `frames` ([B]) are each clip's real mel frames (the feature attention mask's sums).
    """
    encoder = model.model.audio_tower
    from transformers.masking_utils import create_bidirectional_mask

    keep = min(features.shape[-1], int(frames.max()) + CONV_REACH)
    x = features[:, :, :keep].to(encoder.conv1.weight.dtype)
    hidden = nn.functional.gelu(encoder.conv1(x))
    hidden = nn.functional.gelu(encoder.conv2(hidden)).permute(0, 2, 1)
    hidden = hidden + encoder.embed_positions.weight[: hidden.shape[1]]
    conv_lengths = (frames - 1) // 2 + 1
    positions = torch.arange(hidden.shape[1], device=hidden.device)
    key_mask = (positions[None, :] < conv_lengths[:, None]).long()
    mask = create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden, attention_mask=key_mask)
    for layer in encoder.layers:
        hidden = layer(hidden, mask)
    hidden = encoder.avg_pooler(hidden.permute(0, 2, 1)).permute(0, 2, 1)
    hidden = encoder.layer_norm(hidden)
    lengths = torch.tensor([audio_tokens_for_frames(int(n)) for n in frames.tolist()], device=hidden.device)
    return AudioStates(hidden[:, : int(lengths.max())], lengths)


def student_hidden(model: Any, input_ids: Tensor, attention_mask: Tensor, audio: AudioStates) -> Tensor:
    """Decoder output states [B, L, H] with the projected audio states written over the audio placeholders."""
    embeds = model.get_input_embeddings()(input_ids)
    projected = model.model.multi_modal_projector(audio.states)[audio.valid_mask()]
    slots = input_ids == model.config.audio_token_id
    if int(slots.sum()) != projected.shape[0]:
        raise ValueError(f"{int(slots.sum())} audio placeholders for {projected.shape[0]} audio states")
    embeds = embeds.masked_scatter(slots[..., None], projected.to(embeds.dtype))
    out = model.model.language_model(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state


def ctc_loss(head: nn.Module, audio: AudioStates, units: list[list[int]], blank: int) -> Tensor:
    """CTC of the unit sequences over the audio states, averaged per unit (torch's 'mean')."""
    log_probs = head(audio.states).float().log_softmax(-1).transpose(0, 1)
    targets = torch.tensor([u for seq in units for u in seq], dtype=torch.long)
    target_lengths = torch.tensor([len(seq) for seq in units], dtype=torch.long)
    return nn.functional.ctc_loss(log_probs, targets, audio.lengths.cpu(), target_lengths, blank=blank,
                                  zero_infinity=True)
