"""Model loading, log-prob computation and the shared reference cache."""
