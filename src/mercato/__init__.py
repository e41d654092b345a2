"""Mercato: a cloud-native online shop of twelve Python microservices."""

__version__ = "0.1.0"
