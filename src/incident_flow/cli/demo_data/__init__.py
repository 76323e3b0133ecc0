"""Alert bodies the demo replays (real-shaped, one outage day)."""
