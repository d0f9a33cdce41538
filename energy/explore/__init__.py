"""Design-space exploration: sweeps of generate -> synthesize -> simulate -> price on Dask.

``python -m energy.explore SPEC`` (:mod:`energy.explore.__main__`) runs one; the library:

``energy.explore.spec``
    the sweep specification (TOML: settings, spaces of array parameters, ranges) and its expansion into
    points, invalid combinations reported apart.
``energy.explore.point``
    a point's key (a hash of everything that decides its result), its measurement by the gate-level flow,
    its result row.
``energy.explore.task``
    the Dask task: a point in a child process under a time-out, its row in the shared point cache.
``energy.explore.table``
    the results table, one whole line appended per completed point: the sweep's record and resume point.
``energy.explore.sweep``
    the Dask client (a LocalCluster or a running scheduler), the sweep loop, its progress line.
``energy.explore.pareto``
    Pareto fronts over energy per MAC, area per lane and throughput, energy per token, the figure.
"""
