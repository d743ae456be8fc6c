"""Model adaptors: one small class per family maps an HF model's outputs to one ForwardRecord.

- `TextLMAdaptor`: any AutoModelForCausalLM (the textual teacher; tested with Qwen2 and Qwen3).
- `Qwen2AudioAdaptor`: Qwen2AudioForConditionalGeneration (student).
- `OmniThinkerAdaptor`: Qwen2_5OmniThinkerForConditionalGeneration, the text half of Qwen2.5-Omni (student).

An adaptor runs the model's base (decoder) module, not the LM head over the whole sequence: logits are
computed only at response positions, so a 150k vocabulary never costs [B, L, V] memory. Hidden states are
HF's `hidden_states` (index 0 the embedding output, with audio features merged in for students), except
the last layer, which is taken before the final norm (HF ties it to the normed output); the logit lens
is then `lm_head(final_norm(h))` for every layer alike.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from audistill.models.batch import StudentBatch, TextBatch
from audistill.models.record import ForwardRecord

_FINAL_NORM_NAMES = ("norm", "final_layernorm", "final_layer_norm", "ln_f", "norm_f")


def audio_tokens_for_frames(mel_frames: int) -> int:
    """Audio placeholder tokens for a clip of `mel_frames` log-mel frames (Qwen2-Audio and Qwen2.5-Omni).

    The whisper-style encoder halves the frame rate in its strided conv and again in its average pool:
    n = ((frames - 1) // 2 + 1 - 2) // 2 + 1, as both HF processors expand `<|AUDIO|>`.
    """
    if mel_frames <= 0:
        return 0
    return ((mel_frames - 1) // 2 + 1 - 2) // 2 + 1


@dataclass(frozen=True)
class AudioFormat:
    """How a student family writes audio into its prompt and how many tokens a clip becomes.

    `placeholder` holds exactly one `audio_token`; views expand it to `audio_tokens_for_frames(frames)`
    copies, as the processor does.
    """

    family: str
    audio_token: str
    audio_token_id: int
    placeholder: str
    feature_extractor: Any  # a WhisperFeatureExtractor
    sampling_rate: int

    def tokens_for_frames(self, mel_frames: int) -> int:
        return audio_tokens_for_frames(mel_frames)


class ModelAdaptor:
    """One model behind the common face: `forward(batch) -> ForwardRecord` plus its geometry.

    `model` is the HF model, or a peft model wrapping it once LoRA is applied; `hf_model` is always the
    HF model itself (adapters are injected in place, so running it runs the adapters).
    """

    family: ClassVar[str] = ""

    def __init__(self, model: nn.Module, tokenizer: Any, path: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.path = path

    # ---- geometry -------------------------------------------------------------------------------------
    @property
    def hf_model(self) -> Any:
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if callable(get_base) else self.model

    @property
    def has_adapter(self) -> bool:
        return hasattr(self.model, "disable_adapter") and hasattr(self.model, "peft_config")

    @property
    def text_config(self) -> Any:
        return self.hf_model.config.get_text_config()

    @property
    def num_layers(self) -> int:
        return int(self.text_config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def vocab_size(self) -> int:
        """Rows of the output projection (may exceed the tokenizer: Qwen pads its embeddings)."""
        return int(self.lm_head.weight.shape[0])

    @property
    def lm_head(self) -> nn.Module:
        return self.hf_model.get_output_embeddings()

    @property
    def decoder(self) -> nn.Module:
        """The decoder stack (embeddings, layers, final norm) that produces the hidden states."""
        return self.hf_model.base_model

    @property
    def final_norm(self) -> nn.Module:
        for name in _FINAL_NORM_NAMES:
            module = getattr(self.decoder, name, None)
            if isinstance(module, nn.Module):
                return module
        raise AttributeError(f"{self.path}: cannot find the final norm of {type(self.decoder).__name__} "
                             f"(looked for {', '.join(_FINAL_NORM_NAMES)})")

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf_model.parameters()).dtype

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(name, parameter) of every parameter that requires grad."""
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    # ---- adapters and copies --------------------------------------------------------------------------
    @contextlib.contextmanager
    def adapter_disabled(self) -> Iterator[ModelAdaptor]:
        """Run the base weights with every LoRA adapter (and trainable module copy) switched off.

        With LoRA this is the student before distillation: the acoustic teacher without a second model.
        """
        if not self.has_adapter:
            raise RuntimeError(f"{self.path}: no LoRA adapter to disable (student.lora.enabled is false)")
        with self.model.disable_adapter():
            yield self

    def frozen_copy(self) -> ModelAdaptor:
        """An independent frozen copy in eval mode (the acoustic teacher when there is no LoRA)."""
        if self.has_adapter:
            raise RuntimeError(f"{self.path}: under LoRA use adapter_disabled() instead of a copy")
        twin = copy.copy(self)
        twin.model = copy.deepcopy(self.model)
        freeze(twin.model)
        return twin

    # ---- forward --------------------------------------------------------------------------------------
    def model_inputs(self, batch: TextBatch, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Any]:
        """Keyword arguments of the decoder call (families add their audio inputs)."""
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def audio_mask(self, batch: TextBatch) -> Tensor | None:
        """[B, L] bool audio placeholder positions, or None for text models."""
        return None

    def forward(
        self,
        batch: TextBatch,
        *,
        want_logits: bool = True,
        want_hidden: bool = True,
        want_audio_hidden: bool = False,
        stop_after_audio: bool = False,
    ) -> ForwardRecord:
        """Run the model on `batch` and gather what distillation needs.

        want_logits: response logits [T, V]. want_hidden: every layer's states at response positions.
        want_audio_hidden: every layer's states at audio positions (students only).
        stop_after_audio: feed only the tokens up to the batch's last audio token (acoustic teacher): in a
        causal decoder the states at audio positions are then exactly those of the full sequence, at a
        fraction of the cost. Excludes response logits and states.
        """
        if stop_after_audio and (want_logits or want_hidden):
            raise ValueError("stop_after_audio=True cuts the response away: set want_logits=False and "
                             "want_hidden=False")
        batch = batch.to(self.device)
        input_ids, attention_mask = batch.input_ids, batch.attention_mask
        audio_mask = self.audio_mask(batch)
        if want_audio_hidden and audio_mask is None:
            raise ValueError(f"{self.family}: a text model has no audio positions")
        if stop_after_audio:
            if audio_mask is None or not bool(audio_mask.any()):
                raise ValueError("stop_after_audio=True needs audio tokens in the batch")
            cut = int(audio_mask.any(dim=0).nonzero().max()) + 1
            input_ids, attention_mask = input_ids[:, :cut], attention_mask[:, :cut]
            audio_mask = audio_mask[:, :cut]

        need_states = want_hidden or want_audio_hidden
        states: tuple[Tensor, ...] | None = None
        last_hidden: Tensor | None = None
        if want_logits or need_states:
            last_hidden, states = self._run_decoder(batch, input_ids, attention_mask, need_states)

        response = batch.response_mask()
        target_ids = batch.labels[:, 1:][response]
        response_logits = None
        if want_logits:
            assert last_hidden is not None
            response_logits = self.lm_head(last_hidden[:, :-1][response])
        response_hidden = None
        if want_hidden:
            assert states is not None
            response_hidden = tuple(h[:, :-1][response] for h in states)
        audio_hidden = None
        if want_audio_hidden:
            assert states is not None and audio_mask is not None
            audio_hidden = tuple(h[audio_mask] for h in states)
        audio_counts = ([int(n) for n in audio_mask.sum(dim=1).tolist()] if audio_mask is not None
                        else [0] * len(batch.example_ids))
        return ForwardRecord(
            response_logits=response_logits,
            response_hidden=response_hidden,
            audio_hidden=audio_hidden,
            target_ids=target_ids,
            tokens_per_example=[int(n) for n in response.sum(dim=1).tolist()],
            audio_tokens_per_example=audio_counts,
            num_layers=self.num_layers,
            hidden_size=self.hidden_size,
            vocab_size=self.vocab_size,
            final_norm=self.final_norm,
            lm_head=self.lm_head,
        )

    def _run_decoder(
        self, batch: TextBatch, input_ids: Tensor, attention_mask: Tensor, need_states: bool
    ) -> tuple[Tensor, tuple[Tensor, ...] | None]:
        captured: list[Tensor] = []
        hook = None
        if need_states:
            # HF replaces hidden_states[-1] with the normed output; the pre-norm state is the norm's input.
            hook = self.final_norm.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            out = self.decoder(
                **self.model_inputs(batch, input_ids, attention_mask),
                output_hidden_states=need_states,
                use_cache=False,
                return_dict=True,
            )
        finally:
            if hook is not None:
                hook.remove()
        if not need_states:
            return out.last_hidden_state, None
        hidden = tuple(out.hidden_states)
        if len(hidden) != self.num_layers + 1 or len(captured) != 1:
            raise RuntimeError(f"{self.path}: expected {self.num_layers + 1} hidden states and one "
                               f"final-norm call, got {len(hidden)} and {len(captured)}")
        return out.last_hidden_state, (*hidden[:-1], captured[0])


class TextLMAdaptor(ModelAdaptor):
    """Any decoder-only text LM loaded with AutoModelForCausalLM (the textual teacher)."""

    family: ClassVar[str] = "causal_lm"


class AudioStudentAdaptor(ModelAdaptor):
    """An audio LM student: audio encoder -> projector -> decoder-only LM.

    Module paths (inside `hf_model`) tell LoRA and freezing what is what: `language_model_prefix` gets
    the adapters, `encoder_prefix` and `projector_prefix` can be frozen, `unused_prefixes` (the Omni
    vision tower) are always frozen.
    """

    language_model_prefix: ClassVar[str] = "model.language_model"
    encoder_prefix: ClassVar[str] = "model.audio_tower"
    projector_prefix: ClassVar[str] = ""
    unused_prefixes: ClassVar[tuple[str, ...]] = ()
    placeholder_template: ClassVar[str] = ""  # with {bos}, {audio}, {eos}

    def __init__(self, model: nn.Module, tokenizer: Any, path: str, feature_extractor: Any) -> None:
        super().__init__(model, tokenizer, path)
        self.feature_extractor = feature_extractor
        self.audio_format = self._audio_format()

    @property
    def audio_token_id(self) -> int:
        return int(self.hf_model.config.audio_token_id)

    @property
    def decoder(self) -> nn.Module:
        """The multimodal base model: it merges audio features, then runs the language model."""
        return self.hf_model.base_model

    @property
    def final_norm(self) -> nn.Module:
        return self.hf_model.base_model.language_model.norm

    def _audio_format(self) -> AudioFormat:
        token = self.tokenizer.convert_ids_to_tokens(self.audio_token_id)
        missing = [t for t in ("<|audio_bos|>", "<|audio_eos|>")
                   if self.tokenizer.convert_tokens_to_ids(t) in (None, self.tokenizer.unk_token_id)]
        if not isinstance(token, str) or missing:
            raise ValueError(f"{self.path}: tokenizer lacks the audio tokens "
                             f"({', '.join(missing) or f'id {self.audio_token_id}'})")
        placeholder = self.placeholder_template.format(bos="<|audio_bos|>", audio=token, eos="<|audio_eos|>")
        return AudioFormat(
            family=self.family,
            audio_token=token,
            audio_token_id=self.audio_token_id,
            placeholder=placeholder,
            feature_extractor=self.feature_extractor,
            sampling_rate=int(self.feature_extractor.sampling_rate),
        )

    def audio_mask(self, batch: TextBatch) -> Tensor | None:
        if isinstance(batch, StudentBatch) and batch.audio_mask is not None:
            return batch.audio_mask
        return batch.input_ids == self.audio_token_id

    def model_inputs(self, batch: TextBatch, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Any]:
        inputs = super().model_inputs(batch, input_ids, attention_mask)
        if not isinstance(batch, StudentBatch) or batch.input_features is None:
            raise ValueError(f"{self.family}: the batch carries no audio features (examples "
                             f"{', '.join(batch.example_ids)})")
        inputs["input_features"] = batch.input_features.to(self.dtype)
        inputs["feature_attention_mask"] = batch.feature_attention_mask
        return inputs


class Qwen2AudioAdaptor(AudioStudentAdaptor):
    """Qwen2AudioForConditionalGeneration: whisper encoder, `multi_modal_projector`, Qwen2 decoder."""

    family: ClassVar[str] = "qwen2_audio"
    projector_prefix: ClassVar[str] = "model.multi_modal_projector"
    # The Qwen2-Audio processor's chat template writes each clip this way.
    placeholder_template: ClassVar[str] = "Audio 1: {bos}{audio}{eos}\n"


class OmniThinkerAdaptor(AudioStudentAdaptor):
    """Qwen2_5OmniThinkerForConditionalGeneration, audio only.

    The projector role is played by `audio_tower.proj` (encoder width -> LM width, after the encoder's
    `ln_post`); the vision tower is never used and stays frozen.
    """

    family: ClassVar[str] = "qwen2_5_omni_thinker"
    projector_prefix: ClassVar[str] = "model.audio_tower.proj"
    unused_prefixes: ClassVar[tuple[str, ...]] = ("model.visual",)
    placeholder_template: ClassVar[str] = "{bos}{audio}{eos}"


def freeze(model: nn.Module) -> None:
    """Freeze every parameter and switch to eval mode (teachers)."""
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()

