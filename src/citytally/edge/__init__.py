"""The edge pipeline: decode → detect → track (within one camera) → analytics → anonymous events."""
