"""Generation and reconstruction over HTTP with Ray Serve.

``app`` holds the Serve deployments (imports Ray); everything else here (input checks, schemas,
encodings, the model-side ``engine``, the video estimator seam, the CLI commands) is plain Python.
"""
