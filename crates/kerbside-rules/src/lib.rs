//! Kerbside permit rules (being written).
