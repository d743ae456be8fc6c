"""audistill: source- and layer-wise distillation of reasoning into audio language models."""

__version__ = "0.1.0"
