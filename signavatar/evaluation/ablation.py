"""Table II's variants (``workflows.ablation`` trains and scores them) as published: the full run, the run without the curriculum (masking ratio 0 in every
epoch) and the run without quality control, each with its Raw / Rec / Gen rows of the test split.

"full" and "without curriculum" train and are scored on the quality-controlled dataset with one
shared recognizer. "without quality control" is trained, has its recognizer trained, and is scored
on the un-QC'd copy of the same corpus (the paper's Raw_test differs there too): the importer's
``<dataset>/unqc`` (``extract.keep_unqc``), or, for the synthetic corpus, the corpus built with
``qc.enabled=false``. A dataset without an un-QC'd copy has no third variant (logged)."""

from __future__ import annotations


from signavatar import storage
from signavatar.config import SignAvatarConfig

FULL, NO_CURRICULUM, NO_QC = "full", "without curriculum", "without quality control"
# variant -> config changes; "full" is the configured run itself
VARIANTS: dict[str, dict[str, dict]] = {
    FULL: {},
    NO_CURRICULUM: {"curriculum": {"enabled": False}},
    NO_QC: {"qc": {"enabled": False}},
}


def variant_config(config: SignAvatarConfig, name: str, root: str, dataset: str | None,
                   recognizer: str) -> SignAvatarConfig:
    """``config`` with ``VARIANTS[name]`` applied, its own run directory under ``root``, trained
    and scored on ``dataset`` (None: built in its run directory) with the recognizer ``recognizer``."""
    data = config.model_dump(mode="json")
    for section, changes in VARIANTS[name].items():
        data[section].update(changes)
    slug = name.replace(" ", "-")
    data["run_dir"] = storage.join(root, slug)
    data["data"]["dataset"] = dataset
    data["train"].update(storage_path=storage.join(root, slug, "ray"), name=slug)
    data["eval"].update(recognizer=recognizer, checkpoint=None)
    return SignAvatarConfig.model_validate(data)
