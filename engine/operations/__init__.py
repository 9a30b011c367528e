"""What people and the engine do to cases, one unit of work each: transitions, timers, the deadline scan, objections, urging, calendar keeping, purge."""
