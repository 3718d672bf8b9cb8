"""ExperimentMetrics: each model's gate figures as a Vertex AI Experiments metric of the run."""
