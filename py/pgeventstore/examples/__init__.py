"""Worked examples built on pgeventstore (the Order Processing domain)."""
