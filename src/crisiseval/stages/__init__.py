"""The study's model stages: classify, respond, judge. Each reads and writes the run store."""
