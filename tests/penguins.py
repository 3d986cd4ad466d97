"""A penguins-style table built in the test: text columns, a boolean, empty numeric cells."""

import numpy as np
import pandas as pd

SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def penguins(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    species = rng.choice(SPECIES, n)
    island = np.where(
        species == "Gentoo",
        "Biscoe",
        np.where(species == "Chinstrap", "Dream", rng.choice(["Biscoe", "Dream", "Torgersen"], n)),
    )
    bill = np.select([species == "Adelie", species == "Chinstrap"], [38.8, 48.8], 47.5)
    depth = np.where(species == "Gentoo", 15.0, 18.4)
    frame = pd.DataFrame(
        {
            "species": species,
            "island": island,
            "bill_length_mm": (bill + rng.normal(0, 2.0, n)).round(1),
            "bill_depth_mm": (depth + rng.normal(0, 0.8, n)).round(1),
            "sex": rng.choice(["male", "female"], n).astype(object),
            "year": rng.choice([2007, 2008, 2009], n),
        }
    )
    frame.loc[rng.random(n) < 0.08, "bill_length_mm"] = np.nan
    frame.loc[rng.random(n) < 0.05, "bill_depth_mm"] = np.nan
    frame.loc[rng.random(n) < 0.08, "sex"] = None
    return frame
