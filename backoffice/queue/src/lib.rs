//! Signed offline queue toward the back offices.
