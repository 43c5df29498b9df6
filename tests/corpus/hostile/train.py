"""A training script next to the derivations: it trains at import and leaves a marker when it ran."""
import pathlib

pathlib.Path(__file__).with_name("TRAINED_AT_IMPORT").write_text("train.py was run\n")
for epoch in range(10**9):
    pass
