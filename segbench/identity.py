"""Options added after the first release: part of a run's options (and its id) only when they differ from
their default, so that adding one keeps the run ids, and the resume, of existing results folders. Readers of
records fill them back in with these defaults. (Section fields: `config.IDENTITY_WHEN_SET`.)"""

from typing import Any

OPTIONS_WHEN_SET: dict[str, Any] = {"tta": False}
