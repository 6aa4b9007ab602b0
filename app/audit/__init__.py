"""The audit trail of mutating calls."""
