"""Metric-axiom checks for Mahalanobis matrices and distance matrices."""

from metricli.axioms.mahalanobis import check_mahalanobis

__all__ = ["check_mahalanobis"]
