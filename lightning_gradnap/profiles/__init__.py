"""The result and its file: Profiles, built from summed state, the groups, and the .npz format."""
