"""The flow-monitoring API (seed 003): daily execution counts, logs, and a webhook for alerts.

`tables` declares the warehouse tables, `records` turns replies into rows (pure),
`simulator` serves a seeded stand-in of the API for tests and the demo.
"""
