"""`ClassLabels`: the class labels a conditional generator is fed, from what a caller passes.

A caller passes None (the default: image i has class i mod K), one class index or
name for every image, or one per image. The graph gets them as indices in its own
integer dtype; a class the model does not have is an InputError naming the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Union

import numpy as np

from genrt.errors import InputError
from genrt.limits import integer
from genrt.runtime.contract import Contract

# What a caller passes as labels: None (the defaults), one class index or name for every image, or one per image.
Labels = Union[None, int, str, Sequence[Union[int, str]], np.ndarray]


class ClassLabels:
    """The label rules of one model (its contract); an unconditional model takes no labels."""

    def __init__(self, contract: Contract, path: str):
        self.contract, self.path = contract, path
        self._defaults: dict[int, np.ndarray] = {}  # read-only, by n; a few batch sizes at most

    def defaults(self, n: int) -> np.ndarray | None:
        """The labels used when none are given: 0, 1, ..., K-1, 0, 1, ... (None for an unconditional model)."""
        c = self.contract
        return self._cycle(n) if c.conditional else None

    def _cycle(self, n: int) -> np.ndarray:
        """0, 1, ..., K-1, 0, 1, ...: n default labels of a conditional model that says how many classes it has."""
        c = self.contract
        if not c.num_classes:
            raise InputError(f"{self.path} is conditional with an unknown number of classes; pass `labels`")
        return np.arange(n, dtype=c.label_dtype) % c.num_classes

    def array(self, labels: Labels, n: int) -> np.ndarray | None:
        """Labels as the graph's integer array: by index or class name, one or n of them."""
        c = self.contract
        if not c.conditional:
            if labels is not None:
                raise InputError(f"{self.path} is unconditional; do not pass labels")
            return None
        if labels is None:
            return self._default_array(n)
        values = [labels] if isinstance(labels, (str, Integral)) else list(np.asarray(labels).reshape(-1))
        indices = [self._index(v) for v in values]
        if len(indices) == 1:
            indices = indices * n
        if len(indices) != n:
            raise InputError(f"labels: expected 1 or {n} labels, got {len(indices)}")
        return np.asarray(indices, dtype=c.label_dtype)

    def source(self, labels: Labels, n: int, start: int = 0) -> Callable[[int, int], np.ndarray | None]:
        """(first, stop) -> the labels of images first..stop-1 (indices of the seed's images, from `start`),
        without holding n of them for the default or one label."""
        c = self.contract
        if not c.conditional or (labels is not None and not isinstance(labels, (str, Integral))):
            array = self.array(labels, n)  # None, or the caller's n labels (already in memory)
            return lambda first, stop: None if array is None else array[first - start: stop - start]
        if labels is None:
            self.defaults(1)  # refuses a model with an unknown number of classes
            return lambda first, stop: np.arange(first, stop, dtype=c.label_dtype) % c.num_classes
        index = self._index(labels)
        return lambda first, stop: np.full(stop - first, index, dtype=c.label_dtype)

    def _default_array(self, n: int) -> np.ndarray:
        """defaults(n), read-only, kept for the few batch sizes an app runs (small batches skip making them)."""
        array = self._defaults.get(n)
        if array is None:
            array = self._cycle(n)
            array.flags.writeable = False
            if len(self._defaults) < 8:
                self._defaults[n] = array
        return array

    def _index(self, value: object) -> int:
        c = self.contract
        if isinstance(value, (str, np.str_)):
            if value not in c.class_names:
                known = ", ".join(c.class_names) or "none (this model has no class names)"
                raise InputError(f"label {value!r} is not a class of this model; known classes: {known}")
            return c.class_names.index(value)
        index = integer(value)
        if index is None:
            raise InputError(f"labels must be class indices or names, got {value!r}")
        if index < 0 or (c.num_classes and index >= c.num_classes):
            raise InputError(f"label {index} is out of range: this model has classes 0..{c.num_classes - 1}")
        return index
