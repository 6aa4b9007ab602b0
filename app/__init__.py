"""Shipyard server: the FastAPI application, its services and its stores."""
