"""Each epoch's training images (shuffled, warped, varied): on a thread beside training, or,
where the recipe says so, on every core between epochs.

Why worker processes, and why not beside training: the real-writing variation of
:mod:`train.handwriting` is seconds of Python a epoch, so threads do not share it out (the GIL),
and made on a thread while TensorFlow trains, it took a core from TensorFlow's own threads and
made edgenet's epochs half as long again (docs/training.md has the figures). So the epochs are
made a few at a time, one per core, in worker processes, while nothing trains; then training
has every core. An epoch's images depend only on (seed, epoch), so where they are made does not
change them: the same seed gives the same model either way.

This module imports no TensorFlow, so the workers start in about a second.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from train.augment import augment_batch
from train.handwriting import vary_batch
from train.recipe import Recipe

NUM_CLASSES = 10

_worker_images: tuple[np.ndarray, np.ndarray] | None = None  # a worker's copy of the training set


def epoch_data(
    x_train: np.ndarray, y_train: np.ndarray, recipe: Recipe, seed: int, epoch: int
) -> tuple[np.ndarray, np.ndarray]:
    """The shuffled (and augmented, and varied) training images and one-hot labels of one
    epoch: a pure function of its arguments."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(x_train))
    x = x_train[order]
    if recipe.augment is not None:
        x = augment_batch(x, recipe.augment, rng)
    y = y_train[order]
    if recipe.writing is not None:
        x = vary_batch(x, y, recipe.writing, rng)
    return x, one_hot(y)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class TrainingNotice(UserWarning):
    """What a user of ``digit-train`` should know that does not stop training."""


def shared_memory_free() -> int | None:
    """Free bytes of POSIX shared memory where it is a size-limited file system (/dev/shm on
    Linux: 64 MB in a Docker container by default), None elsewhere."""
    return shutil.disk_usage("/dev/shm").free if os.path.isdir("/dev/shm") else None


def epochs_for(
    x_train: np.ndarray, y_train: np.ndarray, recipe: Recipe, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The epochs of ``recipe``, made where it says (``Recipe.epochs_in_processes``), or on a
    thread where shared memory cannot hold them: a worker writing past its limit dies of
    SIGBUS."""
    workers = min(usable_cores(), recipe.epochs)
    if recipe.epochs_in_processes and workers > 1:
        need, free = workers * x_train.size * np.dtype(np.float32).itemsize, shared_memory_free()
        if free is None or free >= need:
            return epochs_in_processes(x_train, y_train, recipe, seed, workers=workers)
        warnings.warn(
            f"shared memory (/dev/shm) has {free >> 20} MB free and {workers} epochs made at "
            f"once need {need >> 20} MB, so they are made on a thread, slower (in a container, "
            "give it more: docker run --shm-size=1g)",
            TrainingNotice,
            stacklevel=2,
        )
    return epochs_on_a_thread(x_train, y_train, recipe, seed)


def epochs_on_a_thread(
    x_train: np.ndarray, y_train: np.ndarray, recipe: Recipe, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`epoch_data` for epochs 0, 1, ... in order, each made on a thread while the
    caller trains on the one before: for light epochs (the affine warp alone, OpenCV working
    without the GIL), where a pool of processes would cost more than it saves."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(epoch_data, x_train, y_train, recipe, seed, 0)
        for epoch in range(1, recipe.epochs + 1):
            made = pending.result()
            if epoch < recipe.epochs:
                pending = pool.submit(epoch_data, x_train, y_train, recipe, seed, epoch)
            yield made


def epochs_in_processes(
    x_train: np.ndarray, y_train: np.ndarray, recipe: Recipe, seed: int, workers: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`epoch_data` for epochs 0, 1, ... in order, made ``workers`` at a time in worker
    processes, when the caller asks for the next epoch after the last made.

    Lazy on purpose: nothing is made while the caller trains on what it was given, and at most
    ``workers`` epochs are held at once (an epoch of 59,000 float images is 185 MB). The workers
    write their images into shared memory: sent back through a pipe, they took longer than
    making them.
    """
    workers = max(1, min(workers, recipe.epochs))
    images = np.ascontiguousarray(x_train, dtype=np.float32)
    blocks = [SharedMemory(create=True, size=images.nbytes) for _ in range(workers)]
    try:
        # spawn, not fork: the parent runs TensorFlow's threads, which a fork must not copy.
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_keep_images,
            initargs=(images, y_train),
        ) as pool:
            for first in range(0, recipe.epochs, workers):
                epochs = range(first, min(first + workers, recipe.epochs))
                jobs = [(recipe, seed, e, blocks[e - first].name) for e in epochs]
                labels = list(pool.map(_made_in_worker, jobs))
                for block, y in zip(blocks, labels, strict=False):
                    yield _as_images(block, images.shape).copy(), y
    finally:
        for block in blocks:
            block.close()
            block.unlink()


def _as_images(block: SharedMemory, shape: tuple[int, ...]) -> np.ndarray:
    return np.ndarray(shape, dtype=np.float32, buffer=block.buf)


def _keep_images(x_train: np.ndarray, y_train: np.ndarray) -> None:
    global _worker_images
    _worker_images = (x_train, y_train)


def _made_in_worker(job: tuple[Recipe, int, int, str]) -> np.ndarray:
    """Make one epoch in a worker: its images into the shared block named, its labels returned."""
    assert _worker_images is not None, "the pool's initializer did not run"
    recipe, seed, epoch, block_name = job
    x, y = epoch_data(*_worker_images, recipe, seed, epoch)
    block = SharedMemory(name=block_name)
    try:
        _as_images(block, x.shape)[:] = x
    finally:
        block.close()
    return y
