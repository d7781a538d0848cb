"""Simulators: fake transcription jobs (profiles) and a fault-injecting proxy."""
