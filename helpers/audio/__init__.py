"""Audio plumbing for the voice activity detection notebook (06): files, chunks, plots, a widget."""
