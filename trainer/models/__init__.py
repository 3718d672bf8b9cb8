"""The five TFRS recommendation models; see `trainer.models.registry` to build one by name."""
