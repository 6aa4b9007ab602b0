"""Signed webhooks and their recorded deliveries."""
