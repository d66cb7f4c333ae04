"""Figures for people (matplotlib, Agg backend); kept out of the pure packages."""
