"""Running models on multi-choice items: log-likelihood and generation modes."""
