"""Virtual cohorts and an in-silico ACCURATE trial: seeded patients (``population``), one Dask task per
patient and arm with results kept per task (``run``), a relief model fitted on ACCURATE and tested on
held-out studies (``relief``), and the trial report (``report``)."""
