"""Metric-axiom checks for Mahalanobis matrices and distance matrices, and repairs."""

from metricli.axioms.distance import check_distance
from metricli.axioms.mahalanobis import check_mahalanobis
from metricli.axioms.repair import metric_repair, nearest_psd

__all__ = ["check_distance", "check_mahalanobis", "metric_repair", "nearest_psd"]
