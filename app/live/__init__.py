"""Live input: a device (or a file played at real-time pace) monitored through the codec as it is heard."""
