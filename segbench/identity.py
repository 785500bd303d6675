"""Options added after the first release: part of a run's options (and its id) only when they differ from
their default, so that adding one keeps the run ids, and the resume, of existing results folders. Readers of
records fill them back in with these defaults. (Section fields: `config.IDENTITY_WHEN_SET`.)"""

from typing import Any

OPTIONS_WHEN_SET: dict[str, Any] = {"tta": False, "rate_divisor": 1}
# The same for section fields, with their defaults (config.IDENTITY_WHEN_SET; a test checks they agree).
SETTINGS_WHEN_SET: dict[str, dict[str, Any]] = {
    "eval": {"tta_scales": [0.5, 0.75, 1.0, 1.25, 1.5, 1.75], "tta_flip": True},
    "train": {"accumulate": 1, "sync_bn": False, "lr_warmup": 0}}
# The same for a data set's fields, by data set name (ShapesConfig.scenes: config.IDENTITY_WHEN_SET).
DATASET_WHEN_SET: dict[str, dict[str, Any]] = {"shapes": {"scenes": "cluttered"}}
