"""Data in: built-in data sets and table/array files."""

from headkit.data.datasets import DATASETS, Dataset, load_dataset
from headkit.data.loading import load_table
from headkit.data.split import holdout_split

__all__ = ["DATASETS", "Dataset", "load_dataset", "holdout_split", "load_table"]
