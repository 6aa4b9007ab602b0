"""Monitoring: drift checks, their stored reports, and the drift gauges."""
