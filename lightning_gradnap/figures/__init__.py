"""Matplotlib figures of profiles, without pyplot's global state and without a SummaryWriter."""
