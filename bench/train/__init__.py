"""The training loop: one loop for every objective, driven only by the objective contract."""
