"""Device drivers: I/O at the edge, feeding the sans-I/O protocols."""
