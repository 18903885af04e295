"""Where a PanDA job's files are: ``--replicas`` as a site's pilot hands it over.

Three shapes are read, each giving every file its URLs in the order to try them:

* ``{"EVNT.01.pool.root": "root://se1//path"}``: one URL per file (a turl a pilot resolved);
* ``{"EVNT.01.pool.root": ["root://se1//path", "davs://se2/path"]}``: several, best first;
* a Rucio ``list_replicas`` answer as it comes (``rucio list-file-replicas --json``, or the
  client's generator dumped as a JSON list): ``[{"scope": ..., "name": ..., "pfns": {PFN:
  {"priority": 1, "type": "DISK", "rse": ...}}, "rses": {RSE: [PFN, ...]}}]``. PFNs are taken by
  ``priority`` (lowest first), tape replicas left out, as Pilot 3's ``add_replicas`` does; an
  entry without ``pfns`` gives its ``rses`` lists in order.
"""

from __future__ import annotations

from typing import Any, Mapping

from pilot_movers.errors import BadJobParameters


def parse_replicas(data: Any, where: str = "replicas") -> dict[str, tuple[str, ...]]:
    """File name -> its replica URLs, best first; BadJobParameters naming what is wrong."""
    if isinstance(data, Mapping):
        return {str(name): _urls(value, f"{where}: {name}") for name, value in data.items()}
    if isinstance(data, list):
        found: dict[str, tuple[str, ...]] = {}
        for number, entry in enumerate(data, 1):
            name, urls = _rucio_entry(entry, f"{where}: entry {number}")
            found[name] = tuple(dict.fromkeys((*found.get(name, ()), *urls)))
        return found
    raise BadJobParameters(
        f"{where} must be a JSON object (file name -> URL or list of URLs) or a Rucio list_replicas answer (a list)"
    )


def _urls(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise BadJobParameters(f"{where}: expected a URL or a non-empty list of URLs, got {value!r}")
    return tuple(dict.fromkeys(v.strip() for v in values))


def _rucio_entry(entry: Any, where: str) -> tuple[str, tuple[str, ...]]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise BadJobParameters(f"{where}: a Rucio replica entry needs a 'name'")
    name = entry["name"]
    pfns = entry.get("pfns")
    if isinstance(pfns, Mapping) and pfns:
        ranked = []
        for order, (pfn, about) in enumerate(pfns.items()):
            about = about if isinstance(about, Mapping) else {}
            if str(about.get("type", "DISK")).upper() == "TAPE":
                continue
            try:
                priority = int(about.get("priority", order + 1))
            except (TypeError, ValueError):
                raise BadJobParameters(
                    f"{where} ({name}): priority {about.get('priority')!r} is not a number"
                ) from None
            ranked.append((priority, order, pfn))
        if not ranked:
            raise BadJobParameters(f"{where} ({name}): every replica is on tape")
        return name, _urls([pfn for _, _, pfn in sorted(ranked)], f"{where} ({name})")
    rses = entry.get("rses")
    if isinstance(rses, Mapping) and rses:
        return name, _urls([pfn for urls in rses.values() for pfn in (urls or [])], f"{where} ({name})")
    raise BadJobParameters(f"{where} ({name}): no 'pfns' nor 'rses': Rucio lists no replica of it")
