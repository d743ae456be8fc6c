"""Adapters that give every audio LM and text LM one face, and the nano model zoo."""
