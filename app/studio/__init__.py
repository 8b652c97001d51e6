"""The studio engine without widgets: the session, its clip, the workers, renderings and measurements."""
