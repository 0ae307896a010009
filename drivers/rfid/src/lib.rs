//! ISO 15693 HF reader protocols (FEIG ISO-Host, RR3036) and ISO 28560 library tag data.
