"""Ray Tune sweeps over the training config (search spaces in ``tune_configs/*.yaml``)."""
