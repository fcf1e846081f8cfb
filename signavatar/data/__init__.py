"""Data: the embedded SYNTHETIC demo corpus and quality control (paper section IV-A)."""

from signavatar.data.qc import (
    AnnotationError,
    QCResult,
    drop_low_confidence,
    hand_speed,
    load_annotations,
    run_qc,
    smooth,
    trim_idle_leading,
    trim_trailing,
)
from signavatar.data.synthetic import GLOSSES, SIGNS, generate_corpus, write_annotations

__all__ = [
    "GLOSSES",
    "SIGNS",
    "AnnotationError",
    "QCResult",
    "drop_low_confidence",
    "generate_corpus",
    "hand_speed",
    "load_annotations",
    "run_qc",
    "smooth",
    "trim_idle_leading",
    "trim_trailing",
    "write_annotations",
]
