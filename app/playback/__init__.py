"""Playback: sources, the click-free player, crossfades, output levels and the output stream."""
