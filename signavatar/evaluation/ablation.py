"""Table II's variants (``workflows.ablation`` trains and scores them): ``ablation.variants`` in the
config, variant name -> ``key=value`` overrides of the configured run. The default is the paper's:
the full run, the run without the curriculum (masking ratio 0 in every epoch) and the run without
quality control, each with its Raw / Rec / Gen rows of the test split.

Variants that keep quality control train and are scored on the quality-controlled dataset with one
shared recognizer. A variant that turns QC off (``disables_qc``: "without quality control") is
trained, has its recognizer trained, and is scored on the un-QC'd copy of the same corpus (the
paper's Raw_test differs there too): the importer's ``<dataset>/unqc`` (``extract.keep_unqc``), or,
for the synthetic corpus, the corpus built with ``qc.enabled=false``. A dataset without an un-QC'd
copy has no such variant (logged)."""

from __future__ import annotations

from signavatar import storage
from signavatar.config import AblationConfig, SignAvatarConfig, apply_overrides


def _with_overrides(config: SignAvatarConfig, name: str) -> dict:
    """``config`` as data with variant ``name``'s overrides applied (KeyError: no such variant)."""
    return apply_overrides(config.model_dump(mode="json"), list(config.ablation.variants[name]))


def disables_qc(config: SignAvatarConfig, name: str) -> bool:
    """Variant ``name`` turns quality control off where the configured run has it on: it needs the
    un-QC'd data and a recognizer of its own."""
    return config.qc.enabled and not SignAvatarConfig.model_validate(_with_overrides(config, name)).qc.enabled


def variant_config(config: SignAvatarConfig, name: str, root: str, dataset: str | None,
                   recognizer: str) -> SignAvatarConfig:
    """``config`` with variant ``name``'s overrides (``config.ablation.variants[name]``) applied,
    its own run directory under ``root``, trained and scored on ``dataset`` (None: built in its run
    directory) with the recognizer ``recognizer``."""
    data = _with_overrides(config, name)
    slug = AblationConfig.variant_dir(name)
    data["run_dir"] = storage.join(root, slug)
    data["data"]["dataset"] = dataset
    data["train"].update(storage_path=storage.join(root, slug, "ray"), name=slug)
    data["eval"].update(recognizer=recognizer, checkpoint=None)
    return SignAvatarConfig.model_validate(data)
