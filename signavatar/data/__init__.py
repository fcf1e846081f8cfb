"""Data: the embedded SYNTHETIC demo corpus and quality control (paper section IV-A)."""

from signavatar.data.hand_motion import hand_speed
from signavatar.data.qc import QCResult, load_annotations, run_qc
from signavatar.data.qc_steps import AnnotationError, drop_low_confidence, smooth, trim_idle_leading, trim_trailing
from signavatar.data.synthetic import GLOSSES, SIGNS, generate_corpus, truth_annotations

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
    "truth_annotations",
]
