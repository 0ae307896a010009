//! GA/T 467 ID-card SAM reader protocol, resident/permit card layouts, GB 11643 check digit.
