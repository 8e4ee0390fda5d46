"""Sources -> normalized trial records: fetch_* does I/O, parse_* is pure."""
