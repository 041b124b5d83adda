//! Pure builders of a WardService's children (filled in by the build functions).
