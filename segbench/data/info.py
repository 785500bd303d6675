"""What a data set carries besides its samples, in one frozen description, and the base class that
reads it as attributes (`ds.num_classes`, `ds.mean`, ...), so that wrappers pass on one object."""

from dataclasses import dataclass

from torch.utils.data import Dataset


@dataclass(frozen=True)
class DatasetInfo:
    """Class names and colours, the ignored label, the normalisation statistics (of pixel values scaled
    to [0, 1]) and which class is background (None where no class is)."""

    name: str
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    ignore_index: int = 255
    background: int | None = 0

    def __post_init__(self) -> None:
        if len(self.palette) != len(self.class_names):
            raise ValueError(f"{self.name}: {len(self.class_names)} class names but {len(self.palette)} colours")
        if not 0 <= self.ignore_index <= 255 or self.ignore_index < len(self.class_names):
            raise ValueError(f"{self.name}: ignore_index {self.ignore_index} must be in {len(self.class_names)}..255")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class Described(Dataset):
    """A torch Dataset of (uint8 image [3, H, W], int64 target [H, W]) with an `info`."""

    info: DatasetInfo

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    @property
    def palette(self) -> tuple[tuple[int, int, int], ...]:
        return self.info.palette

    @property
    def ignore_index(self) -> int:
        return self.info.ignore_index

    @property
    def mean(self) -> tuple[float, ...]:
        return self.info.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.info.std

    def sizes(self) -> list[tuple[int, int]] | None:
        """(height, width) of each sample where they differ and are known without decoding; None otherwise."""
        return None


class Cached(Described):
    """Keeps each sample once produced. Only for samples that are a pure function of their index
    (rendered scenes, decoded evaluation images), never for randomly augmented training samples."""

    def __init__(self, dataset: Described):
        self.dataset, self.info = dataset, dataset.info
        self._samples: dict[int, tuple] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def sizes(self) -> list[tuple[int, int]] | None:
        return self.dataset.sizes()

    def __getitem__(self, index: int) -> tuple:
        if index not in self._samples:
            self._samples[index] = self.dataset[index]
        return self._samples[index]
