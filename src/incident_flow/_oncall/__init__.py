"""On call: who is paged at each escalation level, and when the next level is (pure decisions)."""
