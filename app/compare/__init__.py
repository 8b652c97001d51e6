"""Comparing codecs on one clip: contestants, their renderings aligned to the clip, bitrates, scores."""
