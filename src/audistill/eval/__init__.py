"""Evaluation: answer extraction, MMAU word-set scoring, emotion UA, transcription WER, generation."""
