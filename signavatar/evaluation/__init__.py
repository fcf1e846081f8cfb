"""Paper metrics (Action2Motion / ACTOR protocol): the ST-GCN recognizer (``stgcn``, trained by
``recognizer_training``), the metric functions (``metrics``) and the result tables (``report``).
Pure torch/numpy: nothing here imports Ray."""
