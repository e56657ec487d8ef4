"""Sans-I/O protocol state machines: bytes or lines in, frozen event objects out. No I/O, no clock reads."""
