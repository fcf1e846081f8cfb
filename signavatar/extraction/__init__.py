"""Video corpus -> SMPL-X motion dataset: index, decoding, estimators, Ray Data pipeline."""
