"""Paper metrics (Action2Motion / ACTOR protocol).

Pure torch/numpy, never importing Ray: the ST-GCN recognizer (``stgcn``, trained by
``recognizer_training``), the metric functions (``metrics``), the protocol (``protocol``) and the
quality figures (``quality``), Table II's variants (``ablation``) and the result tables (``report``).

Ray glue, holding no math: ``distributed`` (the protocol's per-clip and per-repetition work on a
pool of Ray actors) and ``run`` (evaluation as one call, driving it)."""
