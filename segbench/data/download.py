"""Fetching VOC 2012 and SBD with torchvision's download utilities, done by segbench itself.

torchvision's VOCSegmentation takes its URL and md5 from a module-level table and extracts the archive
again on every `download=True`; SBDataset's URLs are class attributes and a second `download=True`
fails (torchvision issue 3316). Here the URL and md5 can be overridden (the official hosts have moved
before), an extracted tree is never fetched again, and the md5 is checked.
"""

import shutil
import tarfile
from pathlib import Path
from urllib.error import URLError

from torchvision.datasets import SBDataset
from torchvision.datasets.utils import download_url
from torchvision.datasets.voc import DATASET_YEAR_DICT

from ..errors import DatasetError

VOC_2012 = DATASET_YEAR_DICT["2012"]
SBD_FILES = ("cls", "img", "inst", "train.txt", "val.txt")   # what SBDataset's download moves out of the archive


def voc_present(root: Path) -> bool:
    voc = root / "VOCdevkit" / "VOC2012"
    lists = all((voc / "ImageSets" / "Segmentation" / f"{split}.txt").is_file() for split in ("train", "val"))
    return lists and (voc / "JPEGImages").is_dir() and (voc / "SegmentationClass").is_dir()


def sbd_present(sbd_root: Path) -> bool:
    return all((sbd_root / name).exists() for name in ("img", "cls", "train.txt", "val.txt"))


def ensure_voc(root: Path, url: str | None = None, md5: str | None = None) -> None:
    """VOC 2012 under `root` (root/VOCdevkit/VOC2012): fetched and extracted unless already there."""
    if voc_present(root):
        return
    url, md5 = (url, md5) if url else (VOC_2012["url"], VOC_2012["md5"])
    _fetch(url, md5, root, "voc2012")
    if not voc_present(root):
        raise DatasetError(f"{url} was extracted into {root} but holds no VOCdevkit/VOC2012/ImageSets/Segmentation/"
                           f"train.txt and val.txt: is it the VOC 2012 trainval archive?")


def ensure_sbd(sbd_root: Path, url: str | None = None, md5: str | None = None) -> None:
    """SBD's dataset folder (img/, cls/, train.txt, val.txt) at `sbd_root`: fetched unless already there."""
    if sbd_present(sbd_root):
        return
    url, md5 = (url, md5) if url else (SBDataset.url, SBDataset.md5)
    _fetch(url, md5, sbd_root, "sbd")
    extracted = sbd_root / "benchmark_RELEASE" / "dataset"
    for name in SBD_FILES:
        if (extracted / name).exists() and not (sbd_root / name).exists():
            shutil.move(str(extracted / name), str(sbd_root / name))
    if not sbd_present(sbd_root):
        raise DatasetError(f"{url} was extracted into {sbd_root} but gave no img/, cls/, train.txt and val.txt "
                           f"(expected under benchmark_RELEASE/dataset/): is it SBD's benchmark.tgz?")


def _fetch(url: str, md5: str | None, root: Path, name: str) -> None:
    if not hasattr(tarfile, "data_filter"):
        raise DatasetError(f"extracting {name}'s archive safely needs tarfile's data filter (Python 3.10.12, 3.11.4 "
                           f"or newer); upgrade Python, or download and extract it into {root} by hand")
    archive = root / Path(url.split("?")[0]).name
    try:
        root.mkdir(parents=True, exist_ok=True)
        download_url(url, str(root), filename=archive.name, md5=md5)
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")   # torchvision's extraction has no filter: a member could land anywhere
    except tarfile.FilterError as exc:
        raise DatasetError(f"{archive} (from {url}) holds {exc.tarinfo.name!r}, which would be written outside "
                           f"{root} or is a device or a link out of it: the archive was not extracted further. Is it "
                           "the archive you meant to download?") from None
    except (URLError, OSError, RuntimeError, ValueError, tarfile.TarError) as exc:
        raise DatasetError(
            f"could not fetch {name} from {url} into {root} ({type(exc).__name__}: {exc}). Download the archive by "
            f"hand and extract it into {root}, or give another `url:` (and `md5:`) in the suite's dataset section "
            f"or to `segbench data download {name} --url URL`") from None
