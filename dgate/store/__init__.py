"""On-disk storage: MAG/MIRROR/CACHE/JUKEBOX devices, file names and file formats."""
