//! Code scanners: QR and barcodes from a camera through OpenCV, and line-based serial scanners.
