"""Training subprocess entry point (run by `accelerate launch -m pr1bench.train RUN_DIR`)."""
