"""ZOO.md, the zoo's card: the models, how they were trained, how long it took, the gates."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


# zoo.json's training phases and the config fields that set them (for files written before the phases
# named their optimizer)
_PHASE_CONFIG = {"student_encoder": "encoder", "student_joint": "joint", "teacher": "teacher_phase"}


def _phase_rows(training: dict[str, Any], config: dict[str, Any]) -> list[str]:
    rows = ["| phase | optimizer | steps | batch | peak lr | seconds | steps/s | first losses "
            "| final losses |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, phase in training.items():
        first = ", ".join(f"{k} {v:.3f}" for k, v in phase["first_losses"].items())
        final = ", ".join(f"{k} {v:.3f}" for k, v in phase["final_losses"].items())
        configured = config.get(_PHASE_CONFIG.get(name, ""), {})
        optimizer = phase.get("optimizer") or configured.get("optimizer", "adamw")
        rows.append(f"| {name} | {optimizer} | {phase['steps']} | {phase['batch_size']} | {phase['lr']:g} | "
                    f"{phase['seconds']:.0f} | {phase['steps_per_second']:.2f} | {first} | {final} |")
    return rows


def render_card(zoo: dict[str, Any]) -> str:
    """The Markdown card of a zoo.json dictionary."""
    s, t, c = zoo["student"], zoo["teacher"], zoo["config"]
    sn, tn = c["student"], c["teacher"]
    timings = zoo["timings"]
    load = zoo["load_average"]
    verdict = "all gates hold" if zoo["passed"] else "SOME GATES FAIL"
    layout = ("teacher and student side by side, half each, then the teacher all of them"
              if zoo.get("parallel") else "one at a time")
    lines = [
        "# audistill nano model zoo",
        "",
        f"Built by `audistill zoo build --data {zoo['data']['folder']} --budget {zoo['budget']}` "
        f"(seed {c['seed']}, cache key `{zoo['key']}`) in {timings['total_seconds']:.0f} s on "
        f"{zoo['threads']} torch thread(s) "
        f"({layout}); "
        f"load average {load['start']:.2f} at the start, "
        f"{load['end']:.2f} at the end (other work on the machine slows every figure below). "
        f"Gates: **{verdict}**.",
        "",
        "| role | class | decoder layers | width | parameters | folder |",
        "|---|---|---|---|---|---|",
        f"| base student | Qwen2AudioForConditionalGeneration | {sn['num_layers']} | {sn['hidden_size']} | "
        f"{s['parameters']:,} (encoder {s['encoder_parameters']:,}) | `student/` |",
        f"| textual teacher | Qwen3ForCausalLM | {tn['num_layers']} | {tn['hidden_size']} | "
        f"{t['parameters']:,} | `teacher/` |",
        "",
        "Both share one byte-level BPE tokenizer trained on the benchmark's train text "
        f"({zoo['tokenizer']['size']} tokens, Qwen's chat and audio special tokens, ChatML template), so "
        "their target tokens line up one to one. Both folders are ordinary Hugging Face checkpoints "
        "(safetensors, config, tokenizer, chat template; the student also its WhisperFeatureExtractor) "
        "and load through `audistill.models.load` like real ones.",
        "",
        f"Student audio: {sn['num_mel_bins']} log-mel bins every {sn['hop_length']} samples at 16 kHz, a "
        f"{sn['window_s']} s window, {sn['encoder_layers']} encoder layers of width {sn['encoder_dim']}; "
        f"{16000 / sn['hop_length'] / 4:g} audio tokens per second. Qwen2-Audio rather than the Qwen2.5-Omni "
        "thinker: its processor path (one placeholder expanded to one token per pooled encoder frame, a "
        "linear projector, a plain Qwen2 decoder with 1-D RoPE) is the simplest and best tested here, "
        "with no vision tower or M-RoPE for a nano model to carry.",
        "",
        "## Gates (dev splits, greedy decoding)",
        "",
        "| figure | gate | value | result |",
        "|---|---|---|---|",
    ]
    for gate in zoo["gates"]:
        lines.append(f"| `{gate['key']}` | {gate['op']} {_pct(gate['threshold'])} | {_pct(gate['value'])} | "
                     f"{'pass' if gate['passed'] else 'FAIL'} |")
    lines += [
        f"| `student.reasoning_accuracy` | reported (expected low) | {_pct(s.get('reasoning_accuracy'))} | |",
        f"| `student.describe_accuracy` | reported | {_pct(s.get('describe_accuracy'))} | |",
        f"| `teacher.reasoning_accuracy_heard` | reported | {_pct(t.get('reasoning_accuracy_heard'))} | |",
        f"| `teacher.reasoning_accuracy_student_descriptions` | reported | "
        f"{_pct(t.get('reasoning_accuracy_student_descriptions'))} | |",
        "",
        "- WER: corpus word error rate over the perception dev transcription items. Emotion UA: mean "
        "per-class recall over the perception dev emotion items (MMAU's word-set rule decides a hit).",
        "- Caption accuracy: share of the perception dev sound and music captioning items whose answer "
        "equals the reference caption exactly after lowercasing and dropping punctuation (every count, "
        "kind, length, loudness, contour, peak and tempo word right, in order). Describe accuracy: the "
        "same test for \"describe what you hear\" on the reasoning dev clips.",
        "- Teacher accuracy: MMAU's word-set rule on the reasoning dev questions, the teacher reading the "
        "oracle description (exact times, levels and notes), the heard description built from the ground "
        "truth (the caption a perfect student would give), or the student's own description (item 3 of "
        "issue 5: how much the textualization loses).",
        "",
        f"Evaluation items: {', '.join(f'{k} {v}' for k, v in zoo['eval_counts'].items())}.",
        "",
        "## Training",
        "",
        f"Student: {zoo['data']['student_clips']} clips (the perception set's train clips and the reasoning "
        f"set's train clips), {zoo['data']['student_tasks']} tasks: transcribe, name the emotion, caption "
        "the sounds or music, and describe what you hear (target: the heard description). It never sees a "
        "reasoning question or trace, so it hears well and reasons poorly, like the paper's base LALM. "
        "First the encoder alone learns to label its acoustic units with CTC (the emotion and words of "
        "speech, each sound event with its length and loudness, each note and the tempo of a melody, the "
        "notes and quality of a triad); "
        + ("then the encoder is frozen, every clip encoded once, and the projector and decoder learn the "
           "answers from those states. " if c.get("freeze_encoder") else
           f"then the whole model learns the answers, the CTC term kept at weight {c['ctc_weight']:g}. ")
        + "The CTC head is dropped when the model is saved.",
        "",
        f"Teacher: {zoo['data']['teacher_items']} text items (each reasoning train item with its oracle "
        "description and with its heard description"
        + (f", plus {c['teacher_text_items']} text-only items drawn from the benchmark's train generators "
           "without audio, held-out names, numbers and templates excluded, standing in for the far larger "
           "text a real text LLM has read" if c.get("teacher_text_items") else "")
        + (" (by task: " + ", ".join(f"{task} {share:.0%}" for task, share in c["teacher_text_shares"]) + ")"
           if c.get("teacher_text_items") and c.get("teacher_text_shares") else "")
        + "): description + question + choices -> reasoning trace -> response, through the same teacher "
        "view distillation uses.",
        "",
        *_phase_rows(zoo["training"], c),
        "",
        "AdamW: betas 0.9/0.98. Muon: the transformer blocks' matrices take Nesterov momentum "
        "orthogonalised by five Newton-Schulz steps, scaled to AdamW's update size; embeddings, LM head and "
        "norms stay on AdamW. Every phase: linear warmup then cosine decay to zero, gradients clipped at 1, "
        "float32.",
        "",
        "## Timings (seconds)",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k.removesuffix('_seconds')} | {v:.1f} |" for k, v in timings.items()],
        "",
    ]
    return "\n".join(lines)
