"""SignAvatar on Ray: reconstruct and generate 3D sign-language motion (SMPL-X)."""

__version__ = "0.1.0"
