"""Divergences, layer maps, hidden-state comparisons, teacher signal sources, the joint objective."""
