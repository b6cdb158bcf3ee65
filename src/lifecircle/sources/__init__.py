"""Sources: readers for the files users bring (OSM PBF, vector files, CSV/Excel) and coordinate
systems. Everything here returns WGS-84 data or raises :class:`lifecircle.errors.InputError`."""
