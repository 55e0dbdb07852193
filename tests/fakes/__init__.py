"""Set-ups and helpers shared by more than one test (and by bench/ where a benchmark does the
same thing): ladder.py, the two-tier escalation ladder and Baton served on it; traffic.py, a
timed request on a connection of its own."""
