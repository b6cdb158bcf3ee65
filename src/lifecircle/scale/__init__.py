"""Run the walking engine and city evaluations on a Dask cluster (M17): a province or the whole
country on a real cluster, the same code on a laptop with a local cluster.

- :func:`get_client` connects to a scheduler or starts a local cluster (loopback only).
- :func:`access_table_dask` is :func:`lifecircle.network.table.access_table` for one very large
  network, partitioned over the workers; the result is identical.
- :func:`distribute_network` keeps a network on the workers across calls (:class:`DistributedNetwork`).
- ``access_table_dask(..., out_dir=...)`` streams the table to parquet parts; :func:`read_parts` reads them.
- :func:`evaluate_many` evaluates many cities in parallel, one task per city.
- :func:`access_table_tiles` is the same table in square tiles with buffers, each task reading only
  its part of a network written once by :func:`write_network` (:mod:`lifecircle.scale.tiles`).
- :func:`run_batch` is the province batch: many cities into one store and one report, rerunnable
  (:mod:`lifecircle.scale.batch`); a very large city in it is computed in tiles
  (:mod:`lifecircle.scale.city_tiles`).
"""

from lifecircle.scale.access import (
    DistributedNetwork,
    StreamedAccess,
    access_table_dask,
    distribute_network,
    read_parts,
)
from lifecircle.scale.batch import BatchResult, read_province, run_batch
from lifecircle.scale.cities import CitySource, demo_sources, evaluate_many
from lifecircle.scale.cluster import SCHEDULER_ENV, get_client
from lifecircle.scale.tiles import NetworkFile, access_table_tiles, open_network, write_network

__all__ = [
    "SCHEDULER_ENV",
    "BatchResult",
    "CitySource",
    "DistributedNetwork",
    "NetworkFile",
    "StreamedAccess",
    "access_table_dask",
    "access_table_tiles",
    "demo_sources",
    "distribute_network",
    "evaluate_many",
    "get_client",
    "open_network",
    "read_parts",
    "read_province",
    "run_batch",
    "write_network",
]
