"""The embedded keyword postings on disk: one segment's arrays in an .npz file (no pickles), written atomically."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VERSION = 1


@dataclass(frozen=True)
class SavedPostings:
    """What a save holds: live rows in ascending id order and every term's postings over them."""

    ids: np.ndarray  # int64
    stores: list[str]  # store id per row
    files: list[str]  # file id per row
    lengths: np.ndarray  # float64, tokens per row
    postings: dict[str, tuple[np.ndarray, np.ndarray]]  # term -> (row positions int32, frequencies uint32)


def _pack(values: list[str]) -> dict[str, np.ndarray]:
    distinct = list(dict.fromkeys(values))
    index = {s: i for i, s in enumerate(distinct)}
    encoded = [s.encode() for s in distinct]
    return {"blob": np.frombuffer(b"".join(encoded), np.uint8).copy(),
            "offsets": np.cumsum([0, *map(len, encoded)], dtype=np.int64),
            "codes": np.fromiter((index[s] for s in values), np.int32, count=len(values))}


def _unpack(blob: np.ndarray, offsets: np.ndarray, codes: np.ndarray) -> list[str]:
    raw = blob.tobytes()
    distinct = [raw[offsets[i]:offsets[i + 1]].decode() for i in range(len(offsets) - 1)]
    return [distinct[c] for c in codes.tolist()]


def write(path: Path, saved: SavedPostings) -> None:
    terms = list(saved.postings)
    counts = np.fromiter((len(saved.postings[t][0]) for t in terms), np.int64, count=len(terms))
    arrays: dict[str, np.ndarray] = {"version": np.array([VERSION]), "ids": saved.ids, "lengths": saved.lengths,
                                     "bounds": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)}
    arrays["positions"] = np.concatenate([saved.postings[t][0] for t in terms]) if terms else np.empty(0, np.int32)
    arrays["freqs"] = np.concatenate([saved.postings[t][1] for t in terms]) if terms else np.empty(0, np.uint32)
    for name, values in (("store", saved.stores), ("file", saved.files), ("term", terms)):
        for part, array in _pack(values).items():
            arrays[f"{name}_{part}"] = array
    staging = path.with_name(path.name + ".saving.npz")
    np.savez(staging, **arrays)  # type: ignore[arg-type]
    os.replace(staging, path)


def read(path: Path) -> SavedPostings | None:
    """The saved postings, or None when there is no file or it is not one this version wrote."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"][0]) != VERSION:
                return None
            terms = _unpack(data["term_blob"], data["term_offsets"], data["term_codes"])
            bounds = data["bounds"]
            positions, freqs = data["positions"], data["freqs"]
            postings = {t: (positions[bounds[i]:bounds[i + 1]], freqs[bounds[i]:bounds[i + 1]])
                        for i, t in enumerate(terms)}
            return SavedPostings(data["ids"], _unpack(data["store_blob"], data["store_offsets"], data["store_codes"]),
                                 _unpack(data["file_blob"], data["file_offsets"], data["file_codes"]),
                                 data["lengths"], postings)
    except (OSError, KeyError, ValueError, UnicodeDecodeError):
        return None
