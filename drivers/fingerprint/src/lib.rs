//! R30x / AS608 / R503 fingerprint module protocol.
