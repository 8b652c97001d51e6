"""The training tab's logic without widgets: requests, runs, data scans, histories, kept models."""
