"""Readers and writers of the file formats cryodedup reads and writes, one module a format."""
