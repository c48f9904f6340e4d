"""The particle job: remove duplicate particles (or picks), whatever their format (``job.py``)."""

__all__: list[str] = []
