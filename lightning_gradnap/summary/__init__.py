"""The SummaryWriter side: tag names, the views of a profiling, the writer and the replay."""
