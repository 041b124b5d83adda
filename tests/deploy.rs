//! placeholder: filled in by the packaging work
