"""What the scheduled sweeper and the DLQ consumer share: ``RunMaintenance`` composed from settings."""
