"""Source plug-ins: one package per API (see base.py for what a source declares)."""
