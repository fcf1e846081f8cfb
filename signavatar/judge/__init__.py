"""The raw-landmark judge: a recognizer trained on real signers' MediaPipe landmarks (never on
SMPL-X fits) that scores landmarks and projected SMPL-X clips in one space (``space``), so each
stage of the chain (landmarks -> fit -> reconstruction -> generation) shows what it loses."""
