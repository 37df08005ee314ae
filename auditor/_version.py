"""The package's version, in its own module so that any module can import it without importing
the package root (whose lazy names import the scan)."""

__version__ = "0.1.0"
