"""The cryodedup protocols; Scipion lists the protocol classes this package exports."""

from .protocol_coordinates import ProtCryodedupCoordinates
from .protocol_micrographs import ProtCryodedupMicrographs
from .protocol_particles import ProtCryodedupParticles

__all__ = ["ProtCryodedupCoordinates", "ProtCryodedupMicrographs", "ProtCryodedupParticles"]
