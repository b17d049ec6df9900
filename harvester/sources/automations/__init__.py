"""Source `automations`: seed 001's automations REST API (AIP style), read-only.

    tables.py       the five contract tables (TABLES)
    records.py      List/Get replies → rows or rejects (pure, total); list_items
    incremental.py  which automations' children to re-read (pure)
    simulator.py    a seeded, lazy simulator of the read endpoints (sim_*.py behind it)
"""

__all__: list[str] = []
