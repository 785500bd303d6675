"""CSV files in the records' units (metrics as fractions): runs.csv, one row per run (the raw data), and
variants.csv, one row per variant and machine with mean, sample std, n and the 95% Student-t interval.
"""

import csv
import io
import json
from typing import Any

from .references import citations
from .stats import summarise
from .tables import ACCURACY, COST, SPEED
from .variants import Variant

COLUMNS = ACCURACY + COST + SPEED


def _num(value: Any) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else format(float(value), ".12g")   # no float noise digits


def _write(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def runs_csv(vs: list[Variant]) -> str:
    header = ["suite", "suite_version", "variant", "arch", "options", "seed", "run_id", "train_key", "status",
              "error", "machine_id", "device_name"] + [c.key for c in COLUMNS]
    rows = []
    for v in vs:
        for r in sorted(v.records, key=lambda r: (r["spec"]["seed"], r["run_id"])):
            spec, env = r["spec"], r.get("environment") or {}
            rows.append([spec["suite"], spec["suite_version"], v.label, v.arch,
                         json.dumps(spec["options"], sort_keys=True), str(spec["seed"]), r["run_id"],
                         r.get("train_key", ""), r["status"], r.get("error") or "", env.get("machine_id", ""),
                         env.get("device_name", "")]
                        + [_num(c.value(r)) if r["status"] == "ok" else "" for c in COLUMNS])
    return _write(header, rows)


def variants_csv(vs: list[Variant], references: list[dict[str, Any]]) -> str:
    stats = ["mean", "std", "n", "ci95_low", "ci95_high"]
    header = (["kind", "variant", "arch", "dataset", "split", "machine_id", "runs_ok", "runs_failed"]
              + [f"{c.key}_{s}" for c in COLUMNS for s in stats] + ["source"])
    rows = []
    for v in vs:
        for mid in sorted({(r.get("environment") or {}).get("machine_id", "") for r in v.records}):
            ok = [r for r in v.ok if (r.get("environment") or {}).get("machine_id", "") == mid]
            failed = [r for r in v.failed if (r.get("environment") or {}).get("machine_id", "") == mid]
            cells = []
            for c in COLUMNS:
                s = summarise([c.value(r) for r in ok])
                ci = s.ci95 or (None, None)
                cells += [_num(s.mean), _num(s.std), str(s.n), _num(ci[0]), _num(ci[1])]
            rows.append(["measured", v.label, v.arch, v.spec["dataset"]["name"], "val", mid, str(len(ok)),
                         str(len(failed))] + cells + [""])
    sources = citations(references)
    for ref in references:
        cells = []
        for c in COLUMNS:
            value = ref["metrics"].get(c.key)
            cells += [_num(value), "", "1" if value is not None else "0", "", ""]
        rows.append(["reference", ref["label"], ref.get("arch") or "", ref["dataset"], ref["split"], "", "", ""]
                    + cells + [f"[{sources.index(ref['source']) + 1}] {ref['source']}"])
    return _write(header, rows)
