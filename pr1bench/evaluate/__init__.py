"""Evaluation: generation backends (HF on CPU/GPU, vLLM on GPU) and scoring with the perception core."""
