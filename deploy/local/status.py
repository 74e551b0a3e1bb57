"""Small JSON status files through which playground processes report to the
live view. Written whole and renamed into place, so a reader never sees half
a file."""

import json
import os


def write(path: str, values: dict) -> None:
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(values, out)
    os.replace(partial, path)


def read(path: str) -> dict:
    """The last status written to `path`, or {} before the first one."""
    try:
        with open(path, encoding="utf-8") as src:
            return json.load(src)
    except FileNotFoundError:
        return {}
