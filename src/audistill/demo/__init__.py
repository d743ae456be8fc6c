"""`audistill demo`: synth -> zoo -> textualize -> the paper's ablation ladder -> eval -> report."""
