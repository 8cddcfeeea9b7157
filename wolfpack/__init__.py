"""Wolfpack: a failover cluster manager for Linux in the Microsoft Cluster Service model."""

__version__ = "0.1.0"
