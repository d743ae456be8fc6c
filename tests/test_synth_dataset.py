"""The generated benchmark: schema, validation, determinism, answers recomputed from meta, audio that
holds what meta says, perception items, and CARD.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audistill.data.trace import format_trace, parse_trace
from audistill.data.validate import validate_file
from audistill.synth import SynthSettings, SynthSizes, caption, generate

TINY = SynthSizes(
    reasoning={"train": 48, "dev": 6, "test": 24},
    perception={"train": 12, "dev": 6, "test": 5},
)
MMAU_FIELDS = {
    "id": str, "audio_id": str, "question": str, "choices": list, "answer": str, "dataset": str,
    "task": str, "split": str, "category": str, "sub-category": str, "difficulty": str, "meta": dict,
}
FRUITS = {"apple", "pear", "plum", "lemon"}
ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}
JSON_FILES = ("train.json", "dev.json", "test.json")
PERCEPTION_FILES = ("perception/train.json", "perception/dev.json", "perception/test.json")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "set"
    generate(out, SynthSettings(seed=7, size="tiny", sizes=TINY), workers=1, progress=False)
    return out


def load(folder: Path, name: str) -> list[dict[str, Any]]:
    return json.loads((folder / name).read_text())


def reasoning_rows(folder: Path) -> list[dict[str, Any]]:
    return [row for name in JSON_FILES for row in load(folder, name)]


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ schema and validation


def test_files_and_counts(synth_dir: Path) -> None:
    for name, split in zip(JSON_FILES, ("train", "dev", "test"), strict=True):
        rows = load(synth_dir, name)
        assert len(rows) == TINY.reasoning[split]
        assert {r["split"] for r in rows} == {split}
    for name, split in zip(PERCEPTION_FILES, ("train", "dev", "test"), strict=True):
        assert len(load(synth_dir, name)) == TINY.perception[split]
    assert (synth_dir / "CARD.md").is_file()


def test_rows_have_mmau_schema_and_a_parseable_trace(synth_dir: Path) -> None:
    ids = set()
    for row in reasoning_rows(synth_dir):
        for key, kind in MMAU_FIELDS.items():
            assert isinstance(row[key], kind), (row["id"], key)
        assert row["dataset"] == "audistill-synth"
        assert row["task"] in ("sound", "music", "speech")
        assert row["category"] in ("Reasoning", "Information Extraction")
        assert row["difficulty"] in ("easy", "medium", "hard")
        assert row["id"] not in ids
        ids.add(row["id"])
        assert 2 <= len(row["choices"]) <= 4 and len(set(row["choices"])) == len(row["choices"])
        assert row["answer"] in row["choices"]
        trace = parse_trace(row["reasoning"])
        assert format_trace(trace) == row["reasoning"], "trace is not in the canonical spelling"
        assert trace.response == row["answer"]
        assert trace.caption == caption(row["meta"])
        assert 0 < len(row["reasoning"].split()) < 120, "traces stay short for a tiny teacher"


def test_every_file_passes_validation(synth_dir: Path) -> None:
    for name in JSON_FILES + PERCEPTION_FILES:
        report = validate_file(synth_dir / name, max_audio_seconds=5.0)
        assert report.bad == [], (name, report.bad[:3])
        assert report.ok == len(load(synth_dir, name))


def test_audio_is_16k_mono_pcm16_within_five_seconds(synth_dir: Path) -> None:
    for name in JSON_FILES + PERCEPTION_FILES:
        base = (synth_dir / name).parent
        for row in load(synth_dir, name):
            info = sf.info(str(base / row["audio_id"]))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert 0.3 < info.duration <= 5.0
            assert info.duration == pytest.approx(row["meta"]["duration"], abs=2e-3)


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(synth_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, SynthSettings(seed=7, size="tiny", sizes=TINY), workers=2, progress=False)
    first, second = tree_bytes(synth_dir), tree_bytes(again)
    assert first.keys() == second.keys()
    different = [name for name in first if first[name] != second[name]]
    assert different == []


def test_another_seed_gives_other_items(synth_dir: Path, tmp_path: Path) -> None:
    sizes = SynthSizes(reasoning={"train": 12}, perception={})
    other = tmp_path / "other"
    generate(other, SynthSettings(seed=8, size="tiny", sizes=sizes), workers=1, progress=False)
    mine, theirs = load(synth_dir, "train.json")[:12], load(other, "train.json")
    assert [r["question"] for r in mine] != [r["question"] for r in theirs]
    same_audio = [
        r["id"] for r in theirs
        if (other / r["audio_id"]).read_bytes() == (synth_dir / r["audio_id"]).read_bytes()
    ]
    assert same_audio == []


def test_rerun_into_a_smaller_set_removes_stale_audio(tmp_path: Path) -> None:
    out = tmp_path / "set"
    generate(out, SynthSettings(seed=1, size="tiny", sizes=SynthSizes({"train": 6}, {})), progress=False)
    generate(out, SynthSettings(seed=1, size="tiny", sizes=SynthSizes({"train": 3}, {})), progress=False)
    assert sorted(p.name for p in (out / "audio").iterdir()) == [f"train-{i:05d}.wav" for i in range(3)]


# ------------------------------------------------------------------ answers recomputed from meta


def _by_onset(meta: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in sorted(meta["events"], key=lambda e: e["onset"])]


def _chain(pairs: list[tuple[str, str]]) -> list[str]:
    """Total order from 'a before b' pairs (each item is placed by how many come before it)."""
    items = {x for pair in pairs for x in pair}
    before = {x: set() for x in items}
    changed = True
    for a, b in pairs:
        before[b].add(a)
    while changed:  # transitive closure
        changed = False
        for x in items:
            grown = before[x].union(*(before[y] for y in before[x]))
            if grown != before[x]:
                before[x], changed = grown, True
    return sorted(items, key=lambda x: len(before[x]))


def _contour(midi: list[int]) -> str:
    steps = np.sign(np.diff(midi))
    if (steps > 0).all():
        return "rising"
    if (steps < 0).all():
        return "falling"
    peak = int(np.argmax(midi))
    assert (steps[:peak] > 0).all() and (steps[peak:] < 0).all()
    return "rising then falling"


def solve(row: dict[str, Any]) -> str:
    """The answer, recomputed from the ground truth alone."""
    meta, query = row["meta"], row["meta"]["query"]
    kind, qtype = meta["kind"], query["type"]
    if kind == "speech":
        holdings = meta.get("holdings", {})
        if qtype == "sum":
            return str(sum(holdings.values()))
        if qtype == "difference":
            assert holdings[query["more"]] > holdings[query["less"]]
            return str(holdings[query["more"]] - holdings[query["less"]])
        if qtype == "total_value":
            return str(sum(holdings.values()) * query["value"])
        if qtype in ("oldest", "youngest"):
            ages = meta["ages"]
            return (max if qtype == "oldest" else min)(ages, key=ages.get)
        relations = meta.get("relations", [])
        if relations and relations[0][1] in ("taller", "shorter"):
            pairs = [(b, a) if rel == "taller" else (a, b) for a, rel, b in relations]
            order = _chain(pairs)  # shortest first
            return {"shortest": order[0], "middle": order[1], "tallest": order[2]}[qtype]
        if qtype in ("first", "last", "middle"):
            order = _chain([(a, b) for a, _, b in meta["relations"]])
            return {"first": order[0], "middle": order[1], "last": order[-1]}[qtype]
        if qtype == "count_all":
            (basket,) = meta["bought"].values()
            return str(len(basket))
        if qtype in ("count_fruit", "count_fruit_all"):
            return str(sum(n in FRUITS for basket in meta["bought"].values() for n in basket))
        if qtype in ("voice_emotion", "true_feeling"):
            if qtype == "true_feeling":
                assert meta["word_emotion"] != meta["emotion"]
            return meta["emotion"]
        if qtype == "agreement":
            return "yes" if meta["word_emotion"] == meta["emotion"] else "no"
    if kind == "sounds":
        kinds = _by_onset(meta)
        events = sorted(meta["events"], key=lambda e: e["onset"])
        if qtype == "count":
            return str(kinds.count(query["kind"]))
        if qtype == "count_difference":
            return str(kinds.count(query["more"]) - kinds.count(query["less"]))
        if qtype in ("first", "last"):
            return kinds[0] if qtype == "first" else kinds[-1]
        if qtype in ("after", "before"):
            i = kinds.index(query["ref"])
            return kinds[i + 1] if qtype == "after" else kinds[i - 1]
        if qtype == "between":
            i, j = sorted((kinds.index(query["a"]), kinds.index(query["b"])))
            assert j == i + 2
            return kinds[i + 1]
        rising = [e["end_freq_hz"] > e["freq_hz"] for e in events if "chirp" in e["kind"]]
        if qtype == "direction":
            return "rising" if rising[0] else "falling"
        if qtype == "which_chirp":
            want = query["direction"] == "rising"
            return "the first" if rising[0] == want else "the second"
        if qtype == "count_direction":
            want = query["direction"] == "rising"
            return str(sum(r == want for r in rising))
        if qtype in ("louder", "longer"):
            key = "level_db" if qtype == "louder" else "duration"
            return "the first" if events[0][key] > events[1][key] else "the second"
        if qtype == "longer_is_louder":
            longer = max(range(2), key=lambda i: events[i]["duration"])
            louder = max(range(2), key=lambda i: events[i]["level_db"])
            return "yes" if longer == louder else "no"
        if qtype == "count_long_loud":
            return str(sum(e["duration"] > 0.4 and e["level_db"] > -16 for e in events))
        if qtype == "score":
            return str(sum(query["values"][k] for k in kinds))
    if kind in ("melody", "triad"):
        midi = [n["midi"] for n in sorted(meta["notes"], key=lambda n: n["onset"])]
        n, k = len(midi), int(np.argmax(midi)) + 1
        if qtype == "count_notes":
            return str(n)
        if qtype == "notes_after_highest":
            return str(n - k)
        if qtype == "note_score":
            return str(k * query["value"] + (n - k) * 2 * query["value"])
        if qtype == "contour":
            return _contour(midi)
        if qtype == "tempo":
            gap = float(np.median(np.diff([x["onset"] for x in meta["notes"]])))
            return "fast" if gap < 0.4 else "slow"
        if qtype == "highest":
            return f"the {ORDINAL[k]}"
        if qtype == "highest_from_end":
            return str(n - k + 1)
        if qtype == "quality":
            return {4: "major", 3: "minor"}[midi[1] - midi[0]]
        if qtype == "third_semitones":
            return str(midi[1] - midi[0])
    raise AssertionError(f"no solver for {kind}/{qtype}")


def test_every_answer_is_recomputed_from_meta(synth_dir: Path) -> None:
    for row in reasoning_rows(synth_dir):
        assert solve(row) == row["answer"], row["id"]


def test_every_answer_is_recomputed_from_meta_over_many_drafts() -> None:
    from audistill.synth.build import draft_reasoning
    from audistill.synth.plan import reasoning_jobs

    for split in ("train", "test"):
        for job in reasoning_jobs(split, 1200, 3, "unused", 16000, 5.0):
            draft, _, _ = draft_reasoning(job)
            row = {"meta": {**draft.scene, "query": draft.query}}
            assert solve(row) == draft.answer, (job.group, draft.question)


def test_transcripts_say_what_meta_says(synth_dir: Path) -> None:
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
             10: "ten", 11: "eleven", 12: "twelve"}
    for row in reasoning_rows(synth_dir):
        meta = row["meta"]
        if meta["kind"] != "speech":
            continue
        text = meta["transcript"]
        for name, count in {**meta.get("holdings", {}), **meta.get("ages", {})}.items():
            assert re.search(rf"{name} (has|is) {words[count]}\b", text), (text, name, count)
        for person, basket in meta.get("bought", {}).items():
            assert re.search(rf"{person} bought an? {'.*'.join(basket)}\.", text), text
        for a, rel, b in meta.get("relations", []):
            if rel in ("taller", "shorter"):
                assert f"{a} is {rel} than {b}." in text
            else:
                assert a in text or b in text


# ------------------------------------------------------------------ audio holds what meta says


def frame_db(x: np.ndarray, sr: int = 16000, win: float = 0.01, hop: float = 0.005) -> np.ndarray:
    w, h = int(win * sr), int(hop * sr)
    idx = np.arange(w)[None, :] + h * np.arange(1 + (len(x) - w) // h)[:, None]
    return 10 * np.log10((x[idx] ** 2).mean(axis=1) + 1e-12)


def energy_onsets(x: np.ndarray, threshold_db: float, merge_s: float, hop: float = 0.005) -> list[float]:
    """Start times of stretches above threshold; gaps shorter than merge_s do not split a stretch."""
    active = np.flatnonzero(frame_db(x) > threshold_db)
    merge_frames = round(merge_s / hop)
    starts = [i for k, i in enumerate(active) if k == 0 or i - active[k - 1] > 1 + merge_frames]
    return [i * hop for i in starts]


def test_sound_clips_have_as_many_onsets_as_meta_events(synth_dir: Path) -> None:
    checked = 0
    for row in reasoning_rows(synth_dir):
        meta = row["meta"]
        if meta["kind"] != "sounds":
            continue
        x, _ = sf.read(str(synth_dir / row["audio_id"]))
        floor = np.percentile(frame_db(x), 10)
        onsets = energy_onsets(x, floor + 6.0, merge_s=0.08)
        assert len(onsets) == len(meta["events"]), row["id"]
        expected = [e["onset"] for e in meta["events"]]
        assert np.abs(np.array(onsets) - np.array(expected)).max() < 0.03
        checked += 1
    assert checked >= 20


def test_melody_clips_have_as_many_notes_as_meta(synth_dir: Path) -> None:
    checked = 0
    for row in reasoning_rows(synth_dir):
        meta = row["meta"]
        if meta["kind"] != "melody":
            continue
        x, _ = sf.read(str(synth_dir / row["audio_id"]))
        db = frame_db(x)
        assert len(energy_onsets(x, db.max() - 30.0, merge_s=0.0)) == meta["n_notes"], row["id"]
        checked += 1
    assert checked >= 8


def test_speech_clips_are_spoken_and_their_length_follows_the_transcript(synth_dir: Path) -> None:
    lengths, durations = [], []
    for row in reasoning_rows(synth_dir):
        meta = row["meta"]
        if meta["kind"] != "speech":
            continue
        x, sr = sf.read(str(synth_dir / row["audio_id"]))
        assert np.sqrt(np.mean(x**2)) > 0.01
        # Slow (sad) speech is longer for the same words; normalise by the rate actually used.
        lengths.append(len(meta["transcript"].split()) / meta["prosody"]["rate"])
        durations.append(len(x) / sr)
    assert len(lengths) >= 20
    assert np.corrcoef(lengths, durations)[0, 1] > 0.8


# ------------------------------------------------------------------ perception and card


def test_perception_answers_come_from_meta(synth_dir: Path) -> None:
    kinds = set()
    for name in PERCEPTION_FILES:
        for row in load(synth_dir, name):
            meta, sub = row["meta"], row["sub-category"]
            kinds.add(sub)
            assert row["category"] == "Information Extraction"
            if sub == "transcription":
                assert row["answer"] == meta["transcript"] and row["choices"] == []
            elif sub == "emotion recognition":
                assert row["choices"] == ["neutral", "happy", "sad", "angry"]
                assert row["answer"] == meta["emotion"]
            else:
                assert row["answer"] == caption(meta) and row["choices"] == []
    assert kinds == {"transcription", "emotion recognition", "sound captioning", "music captioning"}


def test_card_counts_match_the_files_and_name_the_seed(synth_dir: Path) -> None:
    card = (synth_dir / "CARD.md").read_text()
    assert "seed 7 and the custom sizes" in card
    train = load(synth_dir, "train.json")
    arithmetic_easy = sum(
        r["sub-category"] == "spoken arithmetic" and r["difficulty"] == "easy" for r in train
    )
    row = re.search(r"\| speech \| spoken arithmetic \| easy \| Reasoning \| 4 \| (\d+) \|", card)
    assert row is not None and int(row.group(1)) == arithmetic_easy
    assert re.search(r"\| \*\*all\*\* \|.*\| 48 \| 6 \| 24 \|", card)
