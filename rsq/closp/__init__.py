"""CLOSP and GeoCLOSP: optical, multispectral and SAR image towers trained into the frozen text space."""
