"""Worked examples of pgeventstore, short enough to read and copy."""
