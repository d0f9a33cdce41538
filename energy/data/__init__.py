"""Data files of the energy model (CSV tables with a source column); read by :mod:`energy.tables`."""
