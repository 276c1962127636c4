"""Write ``data/train.csv``: the Iris data from scikit-learn's bundled copy, byte for byte reproducible.

The file is tracked by DVC (``data/train.csv.dvc`` holds its md5 and size), so its bytes must not depend
on the machine: fixed column names, one decimal per measurement (Iris is measured to 0.1 cm), integer
labels, ``\\n`` line endings, no index. Run it from anywhere::

    python data/make_train_csv.py            # writes data/train.csv next to this script
    python data/make_train_csv.py -o out.csv # writes elsewhere

It prints the path, size and md5 it wrote.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_iris

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "train.csv"


def iris_csv_bytes() -> bytes:
    """The Iris data as CSV bytes: four float columns with one decimal and an integer ``target``."""
    iris = load_iris(as_frame=True)
    frame = pd.DataFrame(iris.data.to_numpy(), columns=COLUMNS)
    frame["target"] = iris.target.to_numpy().astype(int)
    text = frame.to_csv(index=False, float_format="%.1f", lineterminator="\n")
    return text.encode("utf-8")


def write_train_csv(output: Path) -> tuple[int, str]:
    """Write the CSV to output (parents created); return its size in bytes and md5 hex digest."""
    data = iris_csv_bytes()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    return len(data), hashlib.md5(data, usedforsecurity=False).hexdigest()  # DVC's content address


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the CSV")
    output = parser.parse_args().output
    size, md5 = write_train_csv(output)
    print(f"wrote {output} ({size} bytes, md5 {md5})")


if __name__ == "__main__":
    main()
