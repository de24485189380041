"""The ``flip-hf`` console entry point (installed by pip): parsing only, the work is in `flip_hf.serving`."""
