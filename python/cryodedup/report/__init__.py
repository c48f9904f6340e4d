"""What a job tells its user: the terminal's summary, and with ``--plot`` the pictures and report.html."""

__all__: list[str] = []
