"""Results tables, plots and run summaries: the paper's Table 1 layout, measured here."""
