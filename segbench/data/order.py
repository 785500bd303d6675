"""The order of training batches: a function of the seed alone (not of the worker count or the number of
processes), resumable after any number of steps, and shared out among the ranks of a distributed run."""

import itertools
import signal

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from ..config import TrainConfig
from ..distributed import World
from .crops import ObjectCrops
from .transforms import NumberedSampler


def train_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int, device: torch.device,
                 skip: int = 0, world: World = World(), accumulate: int = 1) -> DataLoader:
    """Shuffled batches whose order (and augmentation, for a data set that draws numbered samples) depends on
    `seed` alone, not on the worker count; the first `skip` batches (of any number of epochs) are drawn but
    not loaded, for a resumed training. Each batch of `batch_size` comes as `accumulate` micro-batches, of
    which this rank loads its share."""
    generator = torch.Generator().manual_seed(seed)
    numbered = getattr(dataset, "numbered", False)
    sampler = (NumberedSampler if numbered else RandomSampler)(dataset, generator=generator)
    stream = SkipFirst(BatchSampler(sampler, batch_size, len(dataset) >= batch_size), skip)
    # its own generator for the workers' base seed: iterating the loader leaves torch's global RNG (dropout) alone
    return DataLoader(dataset, batch_sampler=RankShare(stream, world, accumulate),
                      generator=torch.Generator().manual_seed(seed), num_workers=num_workers,
                      worker_init_fn=_leave_ctrl_c_to_the_main_process,
                      pin_memory=device.type == "cuda", persistent_workers=num_workers > 0)


def _leave_ctrl_c_to_the_main_process(worker_id: int) -> None:
    """A terminal's Ctrl-C reaches the loader's workers too; the main process saves and stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class SkipFirst(Sampler[list[int]]):
    """A batch sampler's stream without its first `skip` batches, which are drawn all the same (whole epochs
    included), so that every later batch is the one an uninterrupted stream gives."""

    def __init__(self, batches: BatchSampler, skip: int):
        self.batches, self.skip = batches, skip

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        skip, self.skip = self.skip, 0   # only the first pass after a resume is shortened
        while len(self.batches) and skip >= len(self.batches):
            for _ in self.batches:        # one epoch's order, drawn from the generator
                pass
            skip -= len(self.batches)
        for i, batch in enumerate(self.batches):
            if i >= skip:
                yield batch


class RankShare(Sampler[list[int]]):
    """Each global batch as `accumulate` micro-batches, of each only this rank's slice (World.slice)."""

    def __init__(self, batches: Sampler[list[int]], world: World, accumulate: int):
        self.batches, self.world, self.accumulate = batches, world, accumulate

    def __len__(self) -> int:
        return len(self.batches) * self.accumulate

    def __iter__(self):
        for batch in self.batches:
            for part in range(self.accumulate):
                yield self.world.slice(batch, part, self.accumulate)


def batches(dataset: Dataset, cfg: TrainConfig, seed: int, device: torch.device, skip: int = 0,
            world: World = World()):
    """Endless training steps after the first `skip`, each a list of `cfg.accumulate` micro-batches (this
    rank's share): the first `object_crops` steps from object-centred crops of `dataset` (DeconvNet's first
    training stage), the rest from `dataset` itself."""
    def steps(data: Dataset, skipped: int):
        loader = train_loader(data, cfg.batch_size, seed, cfg.num_workers, device, skipped, world, cfg.accumulate)
        micro = _repeat(loader)
        return micro, iter(lambda: list(itertools.islice(micro, cfg.accumulate)), None)
    if cfg.object_crops > skip:  # the crops' loader is not kept: its workers end with the stage
        micro, crops = steps(ObjectCrops(dataset, seed), skip)
        yield from itertools.islice(crops, cfg.object_crops - skip)
        micro.close()
    yield from steps(dataset, max(0, skip - cfg.object_crops))[1]


def _repeat(loader: DataLoader):
    while True:
        yield from loader
