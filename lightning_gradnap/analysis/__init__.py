"""Numbers from profiles, no matplotlib or TensorBoard: clustering, scores, embeddings, tracking, emergence."""
