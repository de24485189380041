"""A small generated click table whose label is learnable (an interaction of two fields)."""

from __future__ import annotations

import numpy as np

OCCUPATIONS = ["writer", "college/grad student", "doctor/health care", "K-12 student", "artist", "programmer"]
GENRES = ["Comedy", "Drama", "Action, Thriller", "Children's, Animation", "Sci-Fi"]


def make_table(n: int = 400, seed: int = 0, missing: bool = True) -> dict[str, list]:
    """A table whose label depends on an interaction of two fields (plus noise)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 40, n)
    gender = rng.integers(0, 2, n)
    occ = rng.integers(0, len(OCCUPATIONS), n)
    movie = rng.integers(0, 30, n)
    genre = movie % len(GENRES)
    logit = np.where((gender == 1) == (genre % 2 == 0), 1.5, -1.5) + 0.3 * rng.standard_normal(n)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    table = {
        "user id": [str(u) for u in users],
        "gender": ["female" if g else "male" for g in gender],
        "occupation": [OCCUPATIONS[o] for o in occ],
        "movie id": [str(m) for m in movie],
        "title": [f"Movie number {m} ({1980 + m})" for m in movie],
        "genres": [GENRES[g] for g in genre],
        "label": label.tolist(),
    }
    if missing:
        table["occupation"][0] = None
        table["title"][1] = None
    return table


def write_table_csv(folder, n: int, seed: int) -> str:
    """``make_table(n, seed)`` as ``folder/clicks.csv`` with a time column ``ts`` (row order); its path."""
    import pandas as pd

    path = folder / "clicks.csv"
    df = pd.DataFrame(make_table(n, seed=seed))
    df["ts"] = range(len(df))
    df.to_csv(path, index=False)
    return str(path)
