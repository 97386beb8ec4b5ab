"""Running models on the dataset: log-likelihood and generation modes, predictions and results."""
