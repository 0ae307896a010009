//! ESC/POS receipt printer commands, GB18030 text, QR, raster, status.
