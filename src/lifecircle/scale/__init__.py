"""Run the walking engine and city evaluations on a Dask cluster (M17): a province or the whole
country on a real cluster, the same code on a laptop with a local cluster.

- :func:`get_client` connects to a scheduler or starts a local cluster (loopback only).
- :func:`access_table_dask` is :func:`lifecircle.network.table.access_table` for one very large
  network, partitioned over the workers; the result is identical.
- :func:`evaluate_many` evaluates many cities in parallel, one task per city.
"""

from lifecircle.scale.access import access_table_dask
from lifecircle.scale.cities import CitySource, demo_sources, evaluate_many
from lifecircle.scale.cluster import SCHEDULER_ENV, get_client

__all__ = ["SCHEDULER_ENV", "CitySource", "access_table_dask", "demo_sources", "evaluate_many", "get_client"]
