"""Tests of the source plug-ins, one package per source."""
