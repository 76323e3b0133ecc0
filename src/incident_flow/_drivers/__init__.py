"""The drivers: the one loop of steps (FlowCore) and the sync/async faces over it."""
