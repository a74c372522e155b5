"""Plan expansion, job execution and the results store."""
